"""Channel kinds and the channels messaging sends through.

A channel kind's app (``whatsapp``) registers its transport in its ``AppConfig.ready()``,
with the name of the one-to-one row where it keeps a channel's own settings; messaging picks
the transport by ``Channel.kind`` and loads those settings with the channel in the same
query (``with_details``), so a send costs no extra read. Messaging never imports a kind's
app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db.models import F, QuerySet

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.messaging.models import Channel, Conversation
from heroshhi.messaging.transport import Transport
from heroshhi.workspaces.models import Workspace


@dataclass(frozen=True, slots=True)
class _Kind:
    transport: Callable[[], Transport]
    details: str | None


_kinds: dict[str, _Kind] = {}


def register_transport(
    kind: str, factory: Callable[[], Transport], *, details: str | None = None
) -> None:
    """Serve channels of ``kind`` with ``factory()``. ``details`` names the reverse
    one-to-one relation from ``Channel`` to the kind's own settings row, if it has one."""
    _kinds[kind] = _Kind(transport=factory, details=details)


def transport_for(channel: Channel) -> Transport:
    """The transport that serves this channel's kind."""
    registered = _kinds.get(channel.kind)
    if registered is None:
        raise ImproperlyConfigured(f"No transport is registered for channel kind {channel.kind!r}.")
    return registered.transport()


def with_details(path: str = "") -> list[str]:
    """``select_related`` paths for the channel at ``path`` ("" for a Channel query itself)
    and every registered kind's settings row."""
    prefix = f"{path}__" if path else ""
    relations = sorted({kind.details for kind in _kinds.values() if kind.details})
    return ([path] if path else []) + [prefix + relation for relation in relations]


# Reads ---------------------------------------------------------------------------------------


def _live() -> QuerySet[Channel]:
    return Channel.objects.filter(deleted_at__isnull=True).order_by("created_at", "id")


def live_channels(*, workspace: Workspace) -> list[Channel]:
    """The workspace's live channels, oldest first (the first is the default)."""
    with workspace_scope(workspace):
        return list(_live())


def live_channel(*, workspace: Workspace, channel: Channel) -> Channel | None:
    """This channel again, if it is still live (it may have been removed since it was read)."""
    with workspace_scope(workspace):
        return _live().filter(pk=channel.pk).first()


def channel_for_lead(*, workspace: Workspace, lead: Lead) -> Channel | None:
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
