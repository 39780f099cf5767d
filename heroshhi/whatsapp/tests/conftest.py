"""WhatsApp fixtures on top of the three-tenant world and the WhatsApp simulator.

- ``wa_channel``: a live channel in workspace A (Alice), registered in the simulator with the
  same ids and token, templates synced from the simulator's default set. It is the
  ``WhatsAppChannel`` row; messaging's services take its ``.channel``.
- ``make_wa_channel``: the same, with overrides (another workspace, a webhook URL, a
  throughput limit, a wrong token, no template sync).
- ``open_window(simulator, channel, lead)``: the contact writes first, so the 24-hour window
  is open on both sides (the simulator's and ours). It only sets our conversation's
  ``last_inbound_at``; the webhook path is tested by the webhooks tests.
- Messaging's provider-free fixtures (``wa_lead``, ``make_wa_lead``, ``alice``, ``bob``,
  ``charlie``) are available here too.

Other test packages can import these: ``from heroshhi.whatsapp.tests.conftest import
wa_channel, wa_lead, open_window  # noqa: F401``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from conftest import World
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.messaging.models import Conversation
from heroshhi.messaging.tests.conftest import (  # noqa: F401
    alice,
    bob,
    charlie,
    make_wa_lead,
    wa_lead,
)
from heroshhi.whatsapp.models import WhatsAppChannel
from heroshhi.whatsapp.services import channel_check, channel_create
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role


def wa_digits(phone: str) -> str:
    """A phone as the simulator and Graph write it: digits only."""
    return phone.lstrip("+")


def _graph_id() -> str:
    return str(secrets.randbelow(9 * 10**14) + 10**14)


@pytest.fixture
def make_wa_channel(world: World, wa_simulator: Any) -> Callable[..., WhatsAppChannel]:
    """Connect a channel in the app and register the same number in the simulator."""

    def make(
        *,
        workspace: Workspace | None = None,
        webhook_url: str = "",
        throughput_per_second: int | None = None,
        token: str | None = None,
        sync_templates: bool = True,
        **fields: Any,
    ) -> WhatsAppChannel:
        workspace = workspace or world.a
        owner = Actor.user(
            world.alice.pk if workspace == world.a else world.charlie.pk, role=Role.OWNER
        )
        access_token = "EAAG" + secrets.token_urlsafe(24)
        values: dict[str, Any] = {
            "phone_number_id": _graph_id(),
            "waba_id": _graph_id(),
            "display_phone_number": "+91 80000 12345",
            "access_token": token or access_token,
            "app_secret": secrets.token_hex(16),
            "verify_token": secrets.token_urlsafe(12),
            **fields,
        }
        extra: dict[str, Any] = {"verify_token": values["verify_token"]}
        if throughput_per_second is not None:
            extra["throughput_per_second"] = throughput_per_second
        wa_simulator.add_number(
            phone_number_id=values["phone_number_id"],
            waba_id=values["waba_id"],
            display_phone_number=values["display_phone_number"],
            # The simulator always knows the real token; ``token`` makes ours wrong.
            access_token=access_token,
            app_secret=values["app_secret"],
            webhook_url=webhook_url,
            **extra,
        )
        channel = channel_create(workspace=workspace, actor=owner, **values)
        if sync_templates:
            result = channel_check(workspace=workspace, actor=owner, channel=channel)
            assert result.ok, result.error
        return channel

    return make


@pytest.fixture
def wa_channel(make_wa_channel: Callable[..., WhatsAppChannel]) -> WhatsAppChannel:
    return make_wa_channel()


def open_window(
    simulator: Any, channel: WhatsAppChannel, lead: Lead, *, text: str = "Hi, is this available?"
) -> Conversation:
    """The contact writes to the channel: the simulator opens its 24-hour window, and our
    conversation records the inbound time (what the webhook processing would do)."""
    assert lead.phone
    simulator.say(from_=wa_digits(lead.phone), text=text, phone_number_id=channel.phone_number_id)
    with workspace_scope(lead.workspace_id):
        conversation, _created = Conversation.objects.get_or_create(
            workspace_id=lead.workspace_id, lead=lead, channel=channel.channel
        )
        conversation.last_inbound_at = timezone.now()
        conversation.save(update_fields=["last_inbound_at"])
    return conversation
