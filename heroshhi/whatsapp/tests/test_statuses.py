"""Delivery statuses: our message goes to the simulator, which answers with signed status
webhooks (in order, reordered, duplicated, batched or failed) to a live server."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging import errors, optout
from heroshhi.messaging.models import Message, MessageTemplate, OptOutRecord
from heroshhi.messaging.sending import send_text
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.tests.webhook_support import (
    change,
    contact,
    envelope,
    make_channel,
    post,
    register,
    status,
    wait_until,
)
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "919812300002"


@pytest.fixture
def alice(world):
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def channel(world, live_server, wa_simulator):
    channel = make_channel(world.a)
    register(wa_simulator, live_server.url, channel)
    return channel


@pytest.fixture
def lead(world, channel, wa_simulator):
    """A lead who has just written, so the window is open for replies."""
    sent = wa_simulator.say(from_=CUSTOMER, text="Hi", phone_number_id=channel.phone_number_id)
    with workspace_scope(world.a):
        return Message.objects.get(provider_message_id=sent["wamid"]).lead


def _reply(world, alice, lead, text="Thanks for writing"):
    return send_text(workspace=world.a, actor=alice, lead=lead, text=text)


def _reload(world, message):
    with workspace_scope(world.a):
        return Message.objects.get(pk=message.pk)


def _status_becomes(world, message, expected, timeout=10.0):
    return wait_until(
        lambda: (m := _reload(world, message)).status == expected and m, timeout=timeout
    )


def _raw(sim, channel, *statuses):
    """A status webhook of our own making, signed and POSTed by the simulator."""
    body = envelope([change(channel, contacts=[contact(CUSTOMER)], statuses=list(statuses))])
    assert sim.raw_webhook(body=body, phone_number_id=channel.phone_number_id) == 200


def test_sent_then_delivered_then_read(world, alice, channel, lead, wa_simulator):
    message = _reply(world, alice, lead)

    delivered = _status_becomes(world, message, Message.Status.DELIVERED)
    assert delivered.provider_message_id
    assert delivered.sent_at is not None
    assert delivered.delivered_at is not None

    wa_simulator.read(to=CUSTOMER, phone_number_id=channel.phone_number_id)

    read = _status_becomes(world, message, Message.Status.READ)
    assert read.sent_at <= read.delivered_at <= read.read_at


def test_statuses_arriving_newest_first_end_on_read(world, alice, channel, lead, wa_simulator):
    wa_simulator.configure(reorder=True, auto_read=True)

    message = _reply(world, alice, lead)

    def all_three_seen():
        found = _reload(world, message)
        return found if found.sent_at and found.delivered_at and found.read_at else None

    final = wait_until(all_three_seen)
    assert final.status == Message.Status.READ
    with workspace_scope(world.a):
        summaries = [d.summary for d in WebhookDelivery.objects.order_by("received_at")]
    # "read" came first, the older steps only filled in their times.
    assert {"stale_statuses": 1} in summaries


def test_duplicated_and_batched_statuses_apply_once_each(world, alice, channel, wa_simulator):
    leads = []
    for n in range(3):
        said = wa_simulator.say(
            from_=f"91981230010{n}", text="Hi", phone_number_id=channel.phone_number_id
        )
        with workspace_scope(world.a):
            leads.append(Message.objects.get(provider_message_id=said["wamid"]).lead)
    wa_simulator.configure(duplicate=2, batch=True, auto_read=True)

    messages = [_reply(world, alice, lead) for lead in leads]

    for message in messages:
        assert _status_becomes(world, message, Message.Status.READ).read_at is not None

    def summaries():
        with workspace_scope(world.a):
            return [d.summary for d in WebhookDelivery.objects.all()]

    # The duplicates may still be on their way when the last "read" has been applied.
    wait_until(lambda: any(s.get("stale_statuses", 0) for s in summaries()))
    assert any(s.get("statuses", 0) > 1 for s in summaries()), "expected a batched POST"
    with workspace_scope(world.a):
        assert Message.objects.filter(direction=Message.Direction.OUTBOUND).count() == 3


def test_failed_is_terminal_with_a_readable_reason(world, alice, channel, lead, wa_simulator):
    wa_simulator.configure(undeliverable=[CUSTOMER])

    message = _reply(world, alice, lead)

    failed = _status_becomes(world, message, Message.Status.FAILED)
    assert failed.error_code == 131026
    assert failed.error_reason == errors.reason_for(131026)
    assert failed.failed_at is not None

    _raw(wa_simulator, channel, status(failed.provider_message_id, "delivered"))
    _raw(wa_simulator, channel, status(failed.provider_message_id, "read"))

    after = _reload(world, message)
    assert after.status == Message.Status.FAILED
    assert after.delivered_at is None
    assert after.read_at is None


def test_a_late_failure_does_not_undo_a_delivery(world, alice, channel, lead, wa_simulator):
    message = _reply(world, alice, lead)
    delivered = _status_becomes(world, message, Message.Status.DELIVERED)

    late = status(
        delivered.provider_message_id, "failed", errors=[{"code": 131000, "title": "Something"}]
    )
    _raw(wa_simulator, channel, late)

    after = _reload(world, message)
    assert after.status == Message.Status.DELIVERED
    assert after.failed_at is None
    assert after.error_code is None


def test_error_131050_opts_the_contact_out(world, alice, channel, lead, wa_simulator):
    wa_simulator.configure(auto_deliver=False)
    message = _reply(world, alice, lead)
    sent = _status_becomes(world, message, Message.Status.SENT)

    stopped = status(
        sent.provider_message_id,
        "failed",
        errors=[{"code": 131050, "title": "Marketing messages stopped"}],
    )
    _raw(wa_simulator, channel, stopped)
    _raw(wa_simulator, channel, stopped)  # redelivered: still one record

    assert _reload(world, message).status == Message.Status.FAILED
    assert optout.is_opted_out(workspace=world.a, phone="+" + CUSTOMER)
    with workspace_scope(world.a):
        [record] = OptOutRecord.objects.all()
    assert (record.method, record.trigger) == ("whatsapp", "error:131050")


def test_a_131050_dated_before_a_resume_does_not_undo_it(world, alice, channel, lead, wa_simulator):
    """Meta failed a send at 10:00 because marketing was stopped; the contact resumed at
    10:05; the failure's webhook arrives after the resume. The resume stands."""
    wa_simulator.configure(auto_deliver=False)
    message = _reply(world, alice, lead)
    sent = _status_becomes(world, message, Message.Status.SENT)
    failed_at = int(timezone.now().timestamp()) - 300
    resume = {
        "wa_id": CUSTOMER,
        "category": "marketing_messages",
        "value": "resume",
        "timestamp": str(failed_at + 60),
    }
    body = envelope(
        [
            change(
                channel, "user_preferences", contacts=[contact(CUSTOMER)], user_preferences=[resume]
            )
        ]
    )
    assert wa_simulator.raw_webhook(body=body, phone_number_id=channel.phone_number_id) == 200
    stopped = status(
        sent.provider_message_id,
        "failed",
        ts=str(failed_at),
        errors=[{"code": 131050, "title": "Marketing messages stopped"}],
    )
    _raw(wa_simulator, channel, stopped)

    assert _reload(world, message).status == Message.Status.FAILED
    assert not optout.is_opted_out(workspace=world.a, phone="+" + CUSTOMER)
    with workspace_scope(world.a):
        records = list(OptOutRecord.objects.order_by(*OptOutRecord.newest_first()))
    assert [(r.trigger, int(r.occurred_at.timestamp())) for r in records] == [
        ("user_preferences:resume", failed_at + 60),
        ("error:131050", failed_at),
    ]


def test_a_status_can_overtake_the_wamid_and_is_matched_by_our_callback_id(
    world, channel, lead, wa_simulator
):
    with workspace_scope(world.a):
        conversation = lead.conversations.get()
        pending = Message.objects.create(
            workspace=world.a,
            conversation=conversation,
            lead=lead,
            direction=Message.Direction.OUTBOUND,
            kind=Message.Kind.TEXT,
            body="in flight",
            status=Message.Status.PENDING,
        )

    _raw(
        wa_simulator,
        channel,
        status("wamid.EARLY", "sent", biz_opaque_callback_data=str(pending.pk)),
    )

    found = _reload(world, pending)
    assert found.provider_message_id == "wamid.EARLY"
    assert found.status == Message.Status.SENT


def test_statuses_for_messages_we_never_sent_are_counted(world, channel, wa_simulator):
    _raw(
        wa_simulator,
        channel,
        status("wamid.NOT_OURS", "delivered"),
        status("wamid.ALSO_NOT", "read", biz_opaque_callback_data=str(uuid.uuid4())),
        status("wamid.NOR_THIS", "sent", biz_opaque_callback_data="not-a-uuid"),
    )

    with workspace_scope(world.a):
        [delivery] = WebhookDelivery.objects.all()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.summary == {"unknown_status": 3}


def test_template_status_updates_reach_synced_templates(world, channel, wa_simulator):
    with workspace_scope(world.a):
        template = MessageTemplate.objects.create(
            workspace=world.a,
            channel=channel.channel,
            provider_template_id="777",
            name="welcome_offer",
            language="en",
            category="MARKETING",
            status="APPROVED",
        )
    body = envelope(
        [
            {
                "field": "message_template_status_update",
                "value": {
                    "event": "PAUSED",
                    "message_template_id": 777,
                    "message_template_name": "welcome_offer",
                    "message_template_language": "en",
                    "reason": "LOW_QUALITY",
                },
            }
        ]
    )

    assert wa_simulator.raw_webhook(body=body, phone_number_id=channel.phone_number_id) == 200

    with workspace_scope(world.a):
        template.refresh_from_db()
        [delivery] = WebhookDelivery.objects.all()
    assert template.status == "PAUSED"
    assert delivery.summary == {"templates": 1}


def test_another_workspaces_webhook_cannot_touch_our_messages(
    world, alice, channel, lead, wa_simulator, client
):
    """Charlie's channel is signed with its own secret; knowing our wamid changes nothing."""
    message = _reply(world, alice, lead)
    wamid = _status_becomes(world, message, Message.Status.DELIVERED).provider_message_id
    theirs = make_channel(world.b, app_secret="charlies-own-secret")

    body = envelope([change(theirs, statuses=[status(wamid, "read")])])
    response = post(client, theirs, body, secret="charlies-own-secret")

    assert response.status_code == 200
    assert _reload(world, message).status == Message.Status.DELIVERED
    with workspace_scope(world.b):
        [delivery] = WebhookDelivery.objects.all()
    assert delivery.summary == {"unknown_status": 1}
