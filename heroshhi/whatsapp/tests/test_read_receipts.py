"""Opening a conversation tells WhatsApp the contact's messages were read (blue ticks on
their phone), once, through the transport, after the commit."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import Message
from heroshhi.whatsapp.tests.webhook_support import make_channel, register, wait_until

CUSTOMER = "919812300088"


@pytest.fixture
def channel(world, live_server, wa_simulator):
    channel = make_channel(world.a)
    register(wa_simulator, live_server.url, channel)
    return channel


def _message(world, wamid: str) -> Message | None:
    with workspace_scope(world.a):
        return Message.objects.filter(provider_message_id=wamid).first()


def _statuses(wa_simulator, channel) -> list[str]:
    thread = wa_simulator.conversation(phone_number_id=channel.phone_number_id, wa_id=CUSTOMER)
    return [item["status"] for item in thread["messages"] if item["direction"] == "in"]


def test_opening_the_conversation_marks_the_contacts_messages_read(
    client, world, channel, wa_simulator
):
    first = wa_simulator.say(from_=CUSTOMER, text="Hi", phone_number_id=channel.phone_number_id)
    second = wa_simulator.say(
        from_=CUSTOMER, text="Price?", phone_number_id=channel.phone_number_id
    )
    wait_until(lambda: _message(world, first["wamid"]))
    message = wait_until(lambda: _message(world, second["wamid"]))
    assert _statuses(wa_simulator, channel) == ["received", "received"]

    client.login(username=world.alice.email, password=PASSWORD)
    page = client.get(
        reverse(
            "messaging:conversation",
            kwargs={"slug": world.a.slug, "conversation_id": message.conversation_id},
        )
    )

    assert page.status_code == 200
    assert _statuses(wa_simulator, channel) == ["read", "read"]
