"""The channel registry: messaging finds a channel's transport by its kind, so a kind other
than WhatsApp sends through the same rules without messaging knowing its provider."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging import channels, delivery, sending
from heroshhi.messaging.models import Conversation, Message, MessageTemplate
from heroshhi.messaging.tests.conftest import RecordingTransport, make_channel
from heroshhi.messaging.transport import Recipient, TemplateCall

pytestmark = pytest.mark.django_db


def _open_window(channel, lead) -> Conversation:
    with workspace_scope(lead.workspace_id):
        return Conversation.objects.create(
            workspace_id=lead.workspace_id,
            lead=lead,
            channel=channel,
            last_inbound_at=timezone.now(),
        )


def _stored(message: Message) -> Message:
    with workspace_scope(message.workspace_id):
        return Message.objects.get(pk=message.pk)


def test_the_transport_is_the_one_registered_for_the_channels_kind(world, recording_transport):
    assert channels.transport_for(make_channel(world.a)) is recording_transport


def test_a_kind_nobody_registered_is_a_configuration_error(world):
    channel = make_channel(world.a)
    channel.kind = "carrier-pigeon"
    with pytest.raises(ImproperlyConfigured):
        channels.transport_for(channel)


def test_details_rows_are_selected_with_the_channel(monkeypatch):
    monkeypatch.setattr(channels, "_kinds", {})
    channels.register_transport("plain", RecordingTransport)
    channels.register_transport("rich", RecordingTransport, details="rich_settings")
    assert channels.with_details("conversation__channel") == [
        "conversation__channel",
        "conversation__channel__rich_settings",
    ]
    assert channels.with_details() == ["rich_settings"]


def test_a_reply_goes_out_through_the_kinds_transport(world, alice, wa_lead, recording_transport):
    channel = make_channel(world.a)
    _open_window(channel, wa_lead)
    message = sending.send_text(
        workspace=world.a,
        actor=alice,
        lead=wa_lead,
        text="Yes, it is in stock.",
        quick_replies=["Book", "Later"],
        channel=channel,
    )

    assert delivery.deliver(str(message.pk)).outcome == "accepted"
    assert recording_transport.sent == [
        {
            "channel": channel.pk,
            "to": Recipient(phone=wa_lead.phone),
            "text": "Yes, it is in stock.",
            "quick_replies": ["Book", "Later"],
        }
    ]
    assert _stored(message).provider_message_id == f"test.{message.pk}"


def test_a_template_goes_out_with_its_values_in_body_order(
    world, alice, wa_lead, recording_transport
):
    channel = make_channel(world.a)
    with workspace_scope(world.a):
        MessageTemplate.objects.create(
            workspace=world.a,
            channel=channel,
            name="visit_reminder",
            language="en",
            category="UTILITY",
            status="APPROVED",
            body="Hi {{first_name}}, see you on {{day}}.",
            parameter_count=2,
        )
    message = sending.send_template(
        workspace=world.a,
        actor=alice,
        lead=wa_lead,
        template_name="visit_reminder",
        language="en",
        variables=["Priya", "Monday"],
        channel=channel,
    )

    assert delivery.deliver(str(message.pk)).outcome == "accepted"
    [sent] = recording_transport.sent
    assert sent["template"] == TemplateCall(
        name="visit_reminder",
        language="en",
        variables=["Priya", "Monday"],
        parameter_names=["first_name", "day"],
    )
    assert _stored(message).body == "Hi Priya, see you on Monday."
