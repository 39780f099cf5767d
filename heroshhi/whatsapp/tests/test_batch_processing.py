"""Set-based processing: inbound messages (new numbers' leads included) and delivery
statuses are written a whole batch at a time, with the same outcome as one by one.

The one-by-one path stays for what a batch cannot decide alone (opt-out keywords, contacts
known by WhatsApp user id only); these tests check that both paths together give exactly
what the one-by-one path gave, and that the batched statements do not grow with the
number of messages or of new numbers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.core.crypto import PHONE, blind_index
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.messaging import inbound
from heroshhi.messaging.models import Conversation, Message, OptOutRecord
from heroshhi.whatsapp.inbox import delivery_process
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.tests.webhook_support import (
    change,
    contact,
    encode,
    envelope,
    make_channel,
    post,
    status,
    text_message,
)

pytestmark = pytest.mark.django_db(transaction=True)

START = int(time.time()) - 600


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def channel(world):
    return make_channel(world.a)


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    def send(channel, data):
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, channel, data)
        assert response.status_code == 200
        return response

    return send


def _number(n: int) -> str:
    return f"9198765{n:05d}"


def _introduce(send, channel, people: int) -> None:
    """Each contact writes once, which creates their lead and conversation."""
    for n in range(people):
        wa_id = _number(n)
        send(
            channel,
            envelope(
                [
                    change(
                        channel,
                        contacts=[contact(wa_id, name=f"Contact {n}")],
                        messages=[
                            text_message(f"wamid.hello.{n}", "Hello", wa_id=wa_id, ts=str(START))
                        ],
                    )
                ]
            ),
        )


def _messages_body(channel, people: int, per_person: int, *, tag: str, stamp=None):
    contacts, messages = [], []
    for n in range(people):
        wa_id = _number(n)
        contacts.append(contact(wa_id, name=f"Contact {n}"))
        for m in range(per_person):
            ts = stamp(n, m) if stamp else START + 60 + m
            messages.append(
                text_message(f"wamid.{tag}.{n}.{m}", f"Note {m}", wa_id=wa_id, ts=str(ts))
            )
    return envelope([change(channel, contacts=contacts, messages=messages)])


def _latest_delivery(world) -> WebhookDelivery:
    with workspace_scope(world.a):
        return WebhookDelivery.objects.latest("received_at")


def _lead(world, n: int) -> Lead:
    with workspace_scope(world.a):
        return Lead.objects.get(phone_bidx=blind_index(world.a.pk, PHONE, "+" + _number(n)))


def _conversation(world, n: int) -> Conversation:
    with workspace_scope(world.a):
        return Conversation.objects.get(lead=_lead(world, n))


def test_messages_from_known_contacts_are_stored_with_all_they_cause(send, world, channel):
    _introduce(send, channel, 3)
    with workspace_scope(world.a):
        closed = _conversation(world, 2)
        Conversation.objects.filter(pk=closed.pk).update(
            status=Conversation.Status.CLOSED, closed_at=datetime.now(UTC)
        )
        Lead.objects.update(last_activity_at=datetime(2026, 1, 1, tzinfo=UTC))
    # Out of order inside the batch: each contact's newest message comes first.
    body = _messages_body(channel, 3, 3, tag="known", stamp=lambda n, m: START + 300 - 60 * m + n)
    # The same message twice in the body, and one already stored.
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"].append(dict(value["messages"][0]))
    value["messages"].append(text_message("wamid.hello.1", "Hello", wa_id=_number(1)))

    send(channel, body)

    delivery = _latest_delivery(world)
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.summary == {"messages": 9, "duplicates": 2}
    with workspace_scope(world.a):
        assert Message.objects.filter(provider_message_id__startswith="wamid.known.").count() == 9
        stored = Message.objects.get(provider_message_id="wamid.known.1.2")
        assert stored.body == "Note 2"
        assert stored.status == Message.Status.RECEIVED
        assert stored.direction == Message.Direction.INBOUND
        timeline = TimelineEvent.objects.filter(kind=TimelineEvent.Kind.MESSAGE_IN)
        assert timeline.count() == 3 + 9
        assert timeline.filter(data__message=str(stored.pk)).exists()
        assert all(
            lead.last_activity_at > datetime(2026, 1, 1, tzinfo=UTC) for lead in Lead.objects.all()
        )
    for n in range(3):
        conversation = _conversation(world, n)
        # Hello, then three more: nobody has read them.
        assert conversation.unread_count == 4
        newest = datetime.fromtimestamp(START + 300 + n, tz=UTC)
        assert conversation.last_inbound_at == newest
        assert conversation.last_message_at == newest
    reopened = _conversation(world, 2)
    assert reopened.status == Conversation.Status.OPEN
    assert reopened.closed_at is None


def _store(world, channel, body) -> WebhookDelivery:
    """A delivery in the inbox, as the webhook view stores it, not yet processed."""
    with workspace_scope(world.a):
        return WebhookDelivery.objects.create(
            workspace=world.a, channel=channel, body=encode(body).decode(), body_sha256="x"
        )


def _processing_statements(world, channel, body) -> int:
    """The statements processing one stored delivery takes."""
    delivery = _store(world, channel, body)
    with CaptureQueriesContext(connection) as queries:
        delivery_process(delivery_id=str(delivery.pk))
    assert _latest_delivery(world).status == WebhookDelivery.Status.PROCESSED
    return len(queries.captured_queries)


def test_the_statements_do_not_grow_with_the_number_of_messages(send, world, channel):
    _introduce(send, channel, 10)

    few = _processing_statements(world, channel, _messages_body(channel, 2, 1, tag="a"))
    many = _processing_statements(world, channel, _messages_body(channel, 10, 4, tag="b"))

    with workspace_scope(world.a):
        assert Message.objects.filter(provider_message_id__startswith="wamid.b.").count() == 40
    assert many == few, (few, many)


def test_new_numbers_get_their_leads_and_conversations_together(world, channel):
    body = _messages_body(channel, 3, 2, tag="new")
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"][0]["referral"] = {
        "source_url": "https://fb.me/ad",
        "source_id": "120200000000000001",
        "source_type": "ad",
        "headline": "Diwali sale",
        "body": "Flat 20% off",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ",
    }

    delivery_process(delivery_id=str(_store(world, channel, body).pk))

    assert _latest_delivery(world).summary == {"messages": 6}
    leads = [_lead(world, n) for n in range(3)]
    assert [lead.source for lead in leads] == ["whatsapp"] * 3
    assert [lead.name for lead in leads] == ["Contact 0", "Contact 1", "Contact 2"]
    assert leads[0].source_details["headline"] == "Diwali sale"
    assert "body" not in leads[0].source_details
    assert leads[1].source_details == {}
    for n in range(3):
        conversation = _conversation(world, n)
        assert conversation.unread_count == 2
        assert conversation.last_inbound_at is not None
    with workspace_scope(world.a):
        created = AuditEvent.objects.filter(action=AuditAction.LEAD_CREATED)
        assert sorted(str(e.target_id) for e in created) == sorted(str(lead.pk) for lead in leads)
        assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.MESSAGE_IN).count() == 6

    # Once the workspace is warm, four times the new numbers take the same statements.
    def numbers(first, count, tag):
        return envelope(
            [
                change(
                    channel,
                    contacts=[contact(_number(first + n)) for n in range(count)],
                    messages=[
                        text_message(f"wamid.{tag}.{n}", "Hi", wa_id=_number(first + n))
                        for n in range(count)
                    ],
                )
            ]
        )

    few = _processing_statements(world, channel, numbers(100, 2, "few"))
    many = _processing_statements(world, channel, numbers(200, 8, "many"))
    assert many == few, (few, many)
    with workspace_scope(world.a):
        assert Lead.objects.count() == 3 + 2 + 8


def test_a_number_known_by_whatsapp_user_id_only_joins_that_lead(send, world, channel):
    user_id = "IN.13491208655302741918"
    # WhatsApp hid the number: the message names its sender by user id alone.
    first = text_message("wamid.hidden", "Hi")
    del first["from"]
    first["from_user_id"] = user_id
    hidden = envelope(
        [
            change(
                channel, contacts=[contact(None, name="Hidden", user_id=user_id)], messages=[first]
            )
        ]
    )
    send(channel, hidden)
    with workspace_scope(world.a):
        assert Lead.objects.get().phone is None
    shown = envelope(
        [
            change(
                channel,
                contacts=[contact(_number(0), name="Hidden", user_id=user_id)],
                messages=[text_message("wamid.shown", "Here is my number", wa_id=_number(0))],
            )
        ]
    )

    send(channel, shown)

    with workspace_scope(world.a):
        assert Lead.objects.count() == 1
        lead = Lead.objects.get()
        assert set(lead.messages.values_list("provider_message_id", flat=True)) == {
            "wamid.hidden",
            "wamid.shown",
        }


def test_a_keyword_sends_its_contact_down_the_one_by_one_path_in_order(send, world, channel):
    _introduce(send, channel, 2)
    body = envelope(
        [
            change(
                channel,
                contacts=[contact(_number(0)), contact(_number(1)), contact(_number(5))],
                messages=[
                    text_message("wamid.k.0", "Before", wa_id=_number(0), ts=str(START + 100)),
                    text_message("wamid.k.1", "Other", wa_id=_number(1), ts=str(START + 101)),
                    text_message("wamid.k.2", "STOP", wa_id=_number(0), ts=str(START + 102)),
                    text_message("wamid.k.3", "New here", wa_id=_number(5), ts=str(START + 103)),
                ],
            )
        ]
    )

    send(channel, body)

    assert _latest_delivery(world).summary == {"messages": 4}
    with workspace_scope(world.a):
        first = _lead(world, 0)
        thread = list(
            Message.objects.filter(lead=first, direction=Message.Direction.INBOUND)
            .order_by("created_at", "id")
            .values_list("provider_message_id", flat=True)
        )
        assert thread == ["wamid.hello.0", "wamid.k.0", "wamid.k.2"]
        [record] = OptOutRecord.objects.all()
        assert (record.status, record.trigger) == (OptOutRecord.Status.OPTED_OUT, "stop")
        # The confirmation reply, queued like any send.
        assert Message.objects.filter(lead=first, direction=Message.Direction.OUTBOUND).count() == 1
        assert _lead(world, 5).source == "whatsapp"


def test_a_contact_with_a_new_whatsapp_user_id_goes_one_by_one_and_keeps_it(send, world, channel):
    _introduce(send, channel, 1)
    body = envelope(
        [
            change(
                channel,
                contacts=[contact(_number(0), user_id="IN.13491208655302741918")],
                messages=[text_message("wamid.u.0", "Hi again", wa_id=_number(0))],
            )
        ]
    )

    send(channel, body)

    assert _latest_delivery(world).summary == {"messages": 1}
    conversation = _conversation(world, 0)
    assert conversation.wa_user_id == "IN.13491208655302741918"
    assert conversation.unread_count == 2


def _outbound(world, channel, n: int, *, wamid: str, state=Message.Status.SENT) -> Message:
    conversation = _conversation(world, n)
    with workspace_scope(world.a):
        return Message.objects.create(
            workspace=world.a,
            conversation=conversation,
            lead=conversation.lead,
            direction=Message.Direction.OUTBOUND,
            kind=Message.Kind.TEXT,
            body="Our reply",
            provider_message_id=wamid,
            status=state,
        )


def _statuses_body(channel, *statuses):
    return envelope([change(channel, contacts=[contact(_number(0))], statuses=list(statuses))])


def test_statuses_in_one_batch_move_forward_only_and_keep_every_timestamp(send, world, channel):
    _introduce(send, channel, 3)
    read_first = _outbound(world, channel, 0, wamid="wamid.out.0")
    failed_late = _outbound(world, channel, 1, wamid="wamid.out.1")
    failed = _outbound(world, channel, 2, wamid="wamid.out.2")
    body = _statuses_body(
        channel,
        status("wamid.out.0", "read", ts=str(START + 30)),
        status("wamid.out.0", "delivered", ts=str(START + 20)),
        status("wamid.out.0", "delivered", ts=str(START + 20)),
        status("wamid.out.1", "delivered", ts=str(START + 20)),
        status(
            "wamid.out.1",
            "failed",
            ts=str(START + 25),
            errors=[{"code": 131026, "title": "Message undeliverable"}],
        ),
        status(
            "wamid.out.2",
            "failed",
            ts=str(START + 25),
            errors=[{"code": 131026, "title": "Message undeliverable"}],
        ),
        status("wamid.out.2", "read", ts=str(START + 40)),
        status("wamid.nobody", "delivered"),
    )

    send(channel, body)

    assert _latest_delivery(world).summary == {
        "statuses": 3,
        "stale_statuses": 4,
        "unknown_status": 1,
    }
    with workspace_scope(world.a):
        read_first.refresh_from_db()
        failed_late.refresh_from_db()
        failed.refresh_from_db()
    assert read_first.status == Message.Status.READ
    assert read_first.read_at == datetime.fromtimestamp(START + 30, tz=UTC)
    assert read_first.delivered_at == datetime.fromtimestamp(START + 20, tz=UTC)
    # Delivered to the phone: a later "failed" does not undo that.
    assert failed_late.status == Message.Status.DELIVERED
    assert failed_late.failed_at is None
    # Failed is terminal: a later "read" neither moves it nor stamps it.
    assert failed.status == Message.Status.FAILED
    assert failed.error_code == 131026
    assert failed.error_reason
    assert failed.read_at is None


def test_a_stop_promotions_failure_still_records_the_opt_out(send, world, channel):
    _introduce(send, channel, 1)
    marketing = _outbound(world, channel, 0, wamid="wamid.promo")
    body = _statuses_body(
        channel,
        status("wamid.promo", "sent", ts=str(START + 10)),
        status(
            "wamid.promo",
            "failed",
            ts=str(START + 11),
            errors=[{"code": 131050, "title": "User stopped marketing messages"}],
        ),
    )

    send(channel, body)

    with workspace_scope(world.a):
        marketing.refresh_from_db()
        [record] = OptOutRecord.objects.all()
    assert marketing.status == Message.Status.FAILED
    assert (record.method, record.trigger) == (OptOutRecord.Method.WHATSAPP, "error:131050")


def test_a_crash_in_the_batched_writes_rolls_back_everything_and_is_retried(
    send, world, channel, monkeypatch
):
    _introduce(send, channel, 2)
    real = inbound.inbound_messages_receive_many
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        result = real(**kwargs)
        if len(calls) == 1:
            raise OperationalError("connection lost")
        return result

    monkeypatch.setattr(inbound, "inbound_messages_receive_many", flaky)
    delivery = _store(world, channel, _messages_body(channel, 2, 2, tag="crash"))

    with pytest.raises(OperationalError):
        delivery_process(delivery_id=str(delivery.pk))
    kept = _latest_delivery(world)
    assert (kept.status, kept.error) == (
        WebhookDelivery.Status.RECEIVED,
        "crashed:OperationalError",
    )
    with workspace_scope(world.a):
        assert not Message.objects.filter(provider_message_id__startswith="wamid.crash.").exists()

    delivery_process(delivery_id=str(delivery.pk))

    done = _latest_delivery(world)
    assert (done.status, done.summary, done.attempts) == (
        WebhookDelivery.Status.PROCESSED,
        {"messages": 4},
        2,
    )
    for n in range(2):
        assert _conversation(world, n).unread_count == 3
