"""The demo's WhatsApp: a number wired to the simulator, its templates, conversations in every
state the inbox shows, an opted-out contact and calls; seeded once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.demo.messaging import (
    DEMO_PHONE_NUMBER_ID,
    DEMO_WABA_ID,
    SCRIPTS,
    seed_messaging,
    simulator_config_path,
)
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services.leads import lead_create
from heroshhi.messaging import optout
from heroshhi.messaging.models import (
    Call,
    Channel,
    Conversation,
    Message,
    MessageTemplate,
    OptOutRecord,
)
from heroshhi.messaging.sending import window_open
from heroshhi.whatsapp.models import WhatsAppChannel
from heroshhi.whatsapp.simulator.defaults import default_templates
from heroshhi.whatsapp.simulator.server import running_simulator
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path  # the simulator config goes here, not into var/test
    return tmp_path


@pytest.fixture
def owner(world: Any) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def leads(world: Any, owner: Actor) -> list[Lead]:
    return [
        lead_create(
            workspace=world.a,
            actor=owner,
            name=f"Demo Person{n}",
            phone=f"+91 90000 {10_000 + n * 7:05d}",
            email=None,
            source="whatsapp",
        ).lead
        for n in range(len(SCRIPTS) + 2)
    ]


def _counts(world: Any) -> dict[str, int]:
    with workspace_scope(world.a):
        return {
            "channels": Channel.objects.count(),
            "whatsapp_channels": WhatsAppChannel.objects.count(),
            "templates": MessageTemplate.objects.count(),
            "conversations": Conversation.objects.count(),
            "messages": Message.objects.count(),
            "ledger": OptOutRecord.objects.count(),
            "calls": Call.objects.count(),
            "timeline": TimelineEvent.objects.count(),
        }


def test_seeding_twice_changes_nothing(world, owner, leads, demo_var):
    seed_messaging(workspace=world.a, owner=owner, web_port=8123)
    first = _counts(world)
    seed_messaging(workspace=world.a, owner=owner, web_port=8123)
    assert _counts(world) == first
    assert first["channels"] == first["whatsapp_channels"] == 1
    assert first["conversations"] == len(SCRIPTS) + 1
    assert first["ledger"] == 1
    assert first["calls"] == 2


def test_the_conversations_cover_every_state(world, owner, leads, demo_var):
    seed_messaging(workspace=world.a, owner=owner, web_port=8123)
    with workspace_scope(world.a):
        conversations = list(Conversation.objects.select_related("lead"))
        messages = list(Message.objects.all())
        templates = {(t.name, t.language, t.status) for t in MessageTemplate.objects.all()}
    windows = [window_open(c) for c in conversations]
    assert windows.count(True) >= 3
    assert windows.count(False) >= 2
    assert sum(c.unread_count for c in conversations) >= 3
    statuses = {m.status for m in messages}
    assert {"received", "delivered", "read", "failed"} <= statuses
    failed = next(m for m in messages if m.status == "failed")
    assert failed.error_code == 131026
    assert failed.error_reason.startswith("The message could not be delivered")
    opted = [
        c.lead for c in conversations if optout.lead_is_opted_out(workspace=world.a, lead=c.lead)
    ]
    assert len(opted) == 1
    # The same set the simulator serves for the demo account, so sends validate there.
    assert templates == {
        (t["name"], t["language"], t["status"]) for t in default_templates(DEMO_WABA_ID)
    }
    with workspace_scope(world.a):
        assert Call.objects.filter(outcome="connected", duration_seconds=262).exists()


def test_the_simulator_config_points_at_the_local_web_server(world, owner, leads, demo_var):
    seed_messaging(workspace=world.a, owner=owner, web_port=8123)
    path = simulator_config_path()
    assert path == demo_var / "wa-simulator.json"
    assert path.stat().st_mode & 0o077 == 0
    with workspace_scope(world.a):
        channel = WhatsAppChannel.objects.get()
    config = json.loads(path.read_text())
    number = config["numbers"][0]
    assert number["phone_number_id"] == DEMO_PHONE_NUMBER_ID == channel.phone_number_id
    assert number["webhook_url"] == f"http://127.0.0.1:8123/webhooks/whatsapp/{channel.pk}/"
    assert number["app_secret"] == channel.app_secret
    assert number["access_token"] == channel.access_token
    # The simulator that `make run` starts accepts the file as it is.
    with running_simulator(port=0, config=path) as simulator:
        numbers = simulator.numbers()
    assert [n["phone_number_id"] for n in numbers] == [DEMO_PHONE_NUMBER_ID]


def test_the_demo_inbox_renders_for_the_owner(client, world, owner, leads, demo_var):
    seed_messaging(workspace=world.a, owner=owner, web_port=8123)
    client.login(email=world.alice.email, password=PASSWORD)
    page = client.get(reverse("messaging:inbox", kwargs={"slug": world.a.slug})).content.decode()
    assert page.count('<li class="inbox-row') == len(SCRIPTS) + 1
    with workspace_scope(world.a):
        opted_out = next(
            c
            for c in Conversation.objects.select_related("lead")
            if optout.lead_is_opted_out(workspace=world.a, lead=c.lead)
        )
    url = reverse(
        "messaging:conversation", kwargs={"slug": world.a.slug, "conversation_id": opted_out.pk}
    )
    conversation = client.get(url).content.decode()
    assert "This contact opted out on" in conversation
    assert "Keyword reply “stop”" in conversation
