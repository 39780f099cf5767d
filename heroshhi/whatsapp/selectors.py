"""Reads of WhatsApp channels, their synced templates and their set-aside inbound items."""

from __future__ import annotations

from django.db.models import QuerySet

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.messaging.models import Channel, MessageTemplate
from heroshhi.whatsapp.models import FailedInboundItem, WhatsAppChannel
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def live() -> QuerySet[WhatsAppChannel]:
    """Live WhatsApp channels with their ``messaging.Channel``, oldest first; in a scope."""
    return (
        WhatsAppChannel.objects.filter(channel__deleted_at__isnull=True)
        .select_related("channel")
        .order_by("channel__created_at", "channel_id")
    )


def channels_list(*, workspace: Workspace) -> list[WhatsAppChannel]:
    """The workspace's live channels, oldest first (the first is the default)."""
    with workspace_scope(workspace):
        return list(live())


def access_channel(*, workspace: Workspace, actor_role: str, uid: object) -> WhatsAppChannel:
    """A live channel of the workspace for someone who manages channels, or 404."""
    require_capability(actor_role, Capability.CHANNELS_MANAGE)
    with workspace_scope(workspace):
        return get_in_scope_or_404(live(), uid)


def templates_list(
    *, workspace: Workspace, channel: WhatsAppChannel | Channel
) -> list[MessageTemplate]:
    with workspace_scope(workspace):
        return list(
            MessageTemplate.objects.filter(channel_id=channel.pk).order_by("name", "language", "id")
        )


FAILED_ITEMS_SHOWN = 100


def failed_items_list(
    *,
    workspace: Workspace,
    actor_role: str,
    state: str | None = None,
    limit: int = FAILED_ITEMS_SHOWN,
) -> list[FailedInboundItem]:
    """The workspace's set-aside inbound items, newest first, for someone who manages
    channels; ``state`` narrows them to pending or replayed ones."""
    require_capability(actor_role, Capability.CHANNELS_MANAGE)
    with workspace_scope(workspace):
        items = FailedInboundItem.objects.select_related("channel__channel")
        if state:
            items = items.filter(state=state)
        return list(items.order_by("-created_at", "-id")[: max(1, min(limit, FAILED_ITEMS_SHOWN))])
