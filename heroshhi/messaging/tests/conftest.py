"""Messaging fixtures on top of the three-tenant world, with no provider behind them.

- ``make_channel(workspace)``: a channel row of the test kind (nothing is registered to send
  through it), for conversations and ledger records to name.
- ``recording_transport``: registers a transport for the test kind that records what it is
  asked to send, and yields it.
- ``wa_lead`` / ``make_wa_lead``: a lead in A with a phone number, owned by Alice's
  membership.
- ``alice``, ``bob``, ``charlie``: the world's actors.

Tests that need a real WhatsApp number (the simulator, webhooks) live with the WhatsApp
app's tests, whose conftest adds ``wa_channel`` and friends. Other test
packages can import these: ``from heroshhi.messaging.tests.conftest import make_channel``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import World
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.leads import lead_create
from heroshhi.messaging import channels
from heroshhi.messaging.models import Channel
from heroshhi.messaging.transport import Recipient, TemplateCall
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

WA_PHONE = "+919876543210"
WA_NAME = "Priya Sharma"
TEST_KIND = "test"
_numbers = itertools.count(1)


def make_channel(
    workspace: Workspace, *, display_phone_number: str | None = None, label: str = ""
) -> Channel:
    """A live channel of the test kind in ``workspace``."""
    with workspace_scope(workspace):
        return Channel.objects.create(
            workspace=workspace,
            kind=TEST_KIND,
            label=label,
            display_phone_number=display_phone_number or f"+91 80000 {next(_numbers):05d}",
        )


@dataclass
class RecordingTransport:
    """Answers every send with a made-up provider id and keeps what it was asked."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    def send_text(
        self,
        channel: Channel,
        *,
        to: Recipient,
        text: str,
        reference: str,
        quick_replies: Sequence[str] = (),
    ) -> str:
        self.sent.append(
            {"channel": channel.pk, "to": to, "text": text, "quick_replies": list(quick_replies)}
        )
        return f"test.{reference}"

    def send_template(
        self, channel: Channel, *, to: Recipient, template: TemplateCall, reference: str
    ) -> str:
        self.sent.append({"channel": channel.pk, "to": to, "template": template})
        return f"test.{reference}"

    def fetch_templates(self, channel: Channel) -> list[dict[str, Any]]:
        return []

    def fetch_media(self, channel: Channel, media_id: str) -> dict[str, Any]:
        return {}

    def download_media(self, channel: Channel, url: str, *, max_bytes: int) -> bytes:
        return b""

    def mark_read(self, channel: Channel, provider_message_id: str) -> None:
        self.sent.append({"channel": channel.pk, "read": provider_message_id})


@pytest.fixture
def recording_transport(monkeypatch: pytest.MonkeyPatch) -> RecordingTransport:
    """The test kind's transport for this test; the registry is as before afterwards."""
    transport = RecordingTransport()
    monkeypatch.setattr(channels, "_kinds", dict(channels._kinds))
    channels.register_transport(TEST_KIND, lambda: transport)
    return transport


@pytest.fixture
def make_wa_lead(world: World) -> Callable[..., Lead]:
    """A lead in A with a phone, owned by Alice unless ``owner`` says otherwise."""

    def make(*, phone: str = WA_PHONE, owner: Membership | None = None, **fields: Any) -> Lead:
        with workspace_scope(world.a):
            owner = owner or Membership.objects.get(user=world.alice)
        return lead_create(
            workspace=world.a,
            actor=Actor.user(world.alice.pk, role=Role.OWNER),
            name=fields.pop("name", WA_NAME),
            phone=phone,
            email=None,
            source="manual",
            owner=owner,
            **fields,
        ).lead

    return make


@pytest.fixture
def wa_lead(make_wa_lead: Callable[..., Lead]) -> Lead:
    return make_wa_lead()


@pytest.fixture
def alice(world: World) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def bob(world: World) -> Actor:
    return Actor.user(world.bob.pk, role=Role.SALES)


@pytest.fixture
def charlie(world: World) -> Actor:
    return Actor.user(world.charlie.pk, role=Role.OWNER)
