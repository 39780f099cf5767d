"""Reads of WhatsApp channels and their synced templates."""

from __future__ import annotations

from django.db.models import QuerySet

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.messaging.models import Channel, MessageTemplate
from heroshhi.whatsapp.models import WhatsAppChannel
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
