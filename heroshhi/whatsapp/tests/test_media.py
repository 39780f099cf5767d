"""Received media is fetched from WhatsApp when someone asks for it, through the transport,
checked against its checksum, handed over as an attachment and audited."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import Message
from heroshhi.whatsapp.tests.webhook_support import make_channel, register, wait_until

CUSTOMER = "919812300077"


@pytest.fixture
def channel(world, live_server, wa_simulator):
    channel = make_channel(world.a)
    register(wa_simulator, live_server.url, channel)
    return channel


def _received(world, wamid: str) -> Message | None:
    with workspace_scope(world.a):
        return Message.objects.filter(provider_message_id=wamid).first()


def _media_url(world, message: Message) -> str:
    return reverse(
        "messaging:media",
        kwargs={
            "slug": world.a.slug,
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
        },
    )


def test_a_received_document_downloads_with_its_bytes_and_is_audited(
    client, world, channel, wa_simulator
):
    sent = wa_simulator.inbound(
        from_=CUSTOMER,
        type="document",
        phone_number_id=channel.phone_number_id,
        media={"filename": "quote<signed>.pdf", "mime_type": "application/pdf"},
    )
    message = wait_until(lambda: _received(world, sent["wamid"]))
    media_id = message.payload["media"]["id"]
    client.login(username=world.alice.email, password=PASSWORD)

    response = client.get(_media_url(world, message))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "quotesigned.pdf" in response["Content-Disposition"]
    expected = sent["body"]["entry"][0]["changes"][0]["value"]["messages"][0]["document"]
    assert hashlib.sha256(response.content).hexdigest() == expected["sha256"]
    assert media_id == expected["id"]
    event = AuditEvent.objects.filter(action="sensitive_read", target_type="message").get()
    assert event.target_id == str(message.pk)


def test_an_unexpected_type_is_served_as_an_opaque_download(client, world, channel, wa_simulator):
    sent = wa_simulator.inbound(
        from_=CUSTOMER,
        type="document",
        phone_number_id=channel.phone_number_id,
        media={"filename": "page.html", "mime_type": "text/html"},
    )
    message = wait_until(lambda: _received(world, sent["wamid"]))
    client.login(username=world.alice.email, password=PASSWORD)

    response = client.get(_media_url(world, message))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"


def test_others_cannot_download_and_a_text_has_no_media(client, world, channel, wa_simulator):
    photo = wa_simulator.inbound(
        from_=CUSTOMER, type="image", phone_number_id=channel.phone_number_id
    )
    text = wa_simulator.inbound(
        from_=CUSTOMER, text="hello", phone_number_id=channel.phone_number_id
    )
    photo_message = wait_until(lambda: _received(world, photo["wamid"]))
    text_message = wait_until(lambda: _received(world, text["wamid"]))

    client.login(username=world.charlie.email, password=PASSWORD)
    assert client.get(_media_url(world, photo_message)).status_code == 404
    client.login(username=world.alice.email, password=PASSWORD)
    assert client.get(_media_url(world, text_message)).status_code == 404
