"""Reads of WhatsApp channels and their synced templates."""

from __future__ import annotations

from django.db.models import F, QuerySet

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.messaging.models import Conversation, MessageTemplate
from heroshhi.whatsapp.models import WhatsAppChannel
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

APPROVED = "APPROVED"


def _live() -> QuerySet[WhatsAppChannel]:
    return WhatsAppChannel.objects.filter(deleted_at__isnull=True).order_by("created_at", "id")


def channels_list(*, workspace: Workspace) -> list[WhatsAppChannel]:
    """The workspace's live channels, oldest first (the first is the default)."""
    with workspace_scope(workspace):
        return list(_live())


def access_channel(*, workspace: Workspace, actor_role: str, uid: object) -> WhatsAppChannel:
    """A live channel of the workspace for someone who manages channels, or 404."""
    require_capability(actor_role, Capability.CHANNELS_MANAGE)
    with workspace_scope(workspace):
        return get_in_scope_or_404(_live(), uid)


def channel_for_lead(*, workspace: Workspace, lead: Lead) -> WhatsAppChannel | None:
    """Where a message to this lead goes: the live channel the lead last talked on, else the
    workspace's first live channel, else None."""
    with workspace_scope(workspace):
        conversation = (
            Conversation.objects.filter(lead=lead, channel__deleted_at__isnull=True)
            .select_related("channel")
            .order_by(F("last_message_at").desc(nulls_last=True), "-created_at")
            .first()
        )
        if conversation is not None:
            return conversation.channel
        return _live().first()


def templates_list(*, workspace: Workspace, channel: WhatsAppChannel) -> list[MessageTemplate]:
    with workspace_scope(workspace):
        return list(
            MessageTemplate.objects.filter(channel=channel).order_by("name", "language", "id")
        )


def approved_template_names(*, workspace: Workspace, channel: WhatsAppChannel) -> list[str]:
    """Names of the channel's approved templates, each once, for "send a template" hints."""
    with workspace_scope(workspace):
        names = (
            MessageTemplate.objects.filter(channel=channel, status=APPROVED)
            .order_by("name")
            .values_list("name", flat=True)
            .distinct()
        )
        return list(names)
