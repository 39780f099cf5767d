"""Inbound WhatsApp messages, end to end: the simulator POSTs signed webhooks to a live
server, the (eager) task processes them, and the database shows the result."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import AssignmentSettings, Lead, TimelineEvent
from heroshhi.leads.services.assignment import assignment_settings_update
from heroshhi.leads.services.leads import lead_create
from heroshhi.messaging import keywords, optout
from heroshhi.messaging.keyword_matcher import normalise_message
from heroshhi.messaging.models import Conversation, Message, OptOutRecord
from heroshhi.messaging.sending import window_open
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.tests.webhook_support import (
    change,
    contact,
    envelope,
    make_channel,
    register,
    text_message,
    wait_until,
)
from heroshhi.workspaces.models import Membership
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMER = "919812300001"


@pytest.fixture
def alice(world):
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def channel(world, live_server, wa_simulator):
    channel = make_channel(world.a)
    register(wa_simulator, live_server.url, channel)
    return channel


@pytest.fixture
def round_robin(world, alice):
    assignment_settings_update(
        workspace=world.a,
        actor=alice,
        mode=AssignmentSettings.Mode.ROUND_ROBIN,
        sales_see_unassigned_pool=False,
        source_members={},
    )


# Generous: on a busy machine the live server's threads can take long to get a turn. The
# wait ends as soon as its condition holds.
SETTLE_SECONDS = 60.0


def _settle(workspace):
    """Wait until no stored delivery is left unprocessed. Our POST is answered once the
    delivery is stored; the task that processes it may be one a status webhook for our
    confirmation reply started, in another of the live server's threads."""

    def settled():
        with workspace_scope(workspace):
            return not WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.RECEIVED
            ).exists()

    wait_until(settled, timeout=SETTLE_SECONDS)


def _say(sim, channel, text, *, from_=CUSTOMER, **fields):
    """The contact writes ``text``; returns once it has been processed."""
    sent = sim.inbound(from_=from_, text=text, phone_number_id=channel.phone_number_id, **fields)
    assert sent["delivered_status"] == 200
    _settle(channel.workspace)
    return sent


def _message(world, wamid):
    with workspace_scope(world.a):
        return Message.objects.select_related("lead", "conversation").get(provider_message_id=wamid)


def _raw_column(table, column, pk):
    with connection.cursor() as cursor:
        for key in (pk.hex, str(pk)):
            cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [key])  # noqa: S608
            row = cursor.fetchone()
            if row is not None:
                return str(row[0])
    raise AssertionError("row not found")


def _opted_out(world, phone=None, wa_user=None):
    return optout.is_opted_out(workspace=world.a, phone=phone, wa_user=wa_user)


def _outbox_texts(sim, channel, to=CUSTOMER):
    return [
        m.get("text") or m.get("body") or m
        for m in sim.outbox(phone_number_id=channel.phone_number_id, to=to)
    ]


# A new number ---------------------------------------------------------------------------------


def test_hi_from_a_new_number_creates_a_whatsapp_lead_for_the_round_robin_owner(
    world, channel, wa_simulator, round_robin
):
    sent = _say(wa_simulator, channel, "Hi", name="Kavya Iyer")

    message = _message(world, sent["wamid"])
    lead = message.lead
    with workspace_scope(world.a):
        bob = Membership.objects.get(user=world.bob)
        conversation = Conversation.objects.get(lead=lead, channel=channel.channel)
        kinds = list(TimelineEvent.objects.filter(lead=lead).values_list("kind", flat=True))
    assert lead.source == "whatsapp"
    assert lead.phone == "+" + CUSTOMER
    assert lead.name == "Kavya Iyer"
    assert lead.owner_id == bob.pk
    assert message.direction == Message.Direction.INBOUND
    assert (message.kind, message.body, message.status) == ("text", "Hi", "received")
    assert message.provider_timestamp is not None
    assert conversation.unread_count == 1
    assert conversation.wa_user_id == sent["user_id"]
    assert window_open(conversation)
    assert TimelineEvent.Kind.MESSAGE_IN in kinds
    assert TimelineEvent.Kind.CREATED in kinds
    # The text is ciphertext in the database, not just in our heads.
    stored = _raw_column("messaging_message", "body", message.pk)
    assert "Hi" not in stored
    assert stored != message.body


def test_a_message_from_a_known_number_joins_its_lead(world, channel, wa_simulator, alice):
    lead = lead_create(
        workspace=world.a,
        actor=alice,
        name="Known",
        phone="+" + CUSTOMER,
        email=None,
        source="manual",
    ).lead

    first = _say(wa_simulator, channel, "Hello again")
    second = _say(wa_simulator, channel, "Are you there?")

    with workspace_scope(world.a):
        assert Lead.objects.count() == 1
        conversation = Conversation.objects.get(lead=lead)
    assert _message(world, first["wamid"]).lead_id == lead.pk
    assert _message(world, second["wamid"]).lead_id == lead.pk
    assert conversation.unread_count == 2


def test_a_contact_without_a_phone_number_is_matched_by_their_whatsapp_user_id(
    world, channel, wa_simulator
):
    first = _say(wa_simulator, channel, "Hi", omit_wa_id=True, name="Hidden")
    second = _say(wa_simulator, channel, "Me again", omit_wa_id=True)

    one, two = _message(world, first["wamid"]), _message(world, second["wamid"])
    assert first["wa_id"] is None
    assert one.lead_id == two.lead_id
    assert one.lead.phone is None
    assert one.lead.name == "Hidden"
    assert one.conversation.wa_user_id == first["user_id"]


def test_a_click_to_whatsapp_ad_becomes_the_leads_attribution(world, channel, wa_simulator):
    sent = _say(wa_simulator, channel, "I saw your ad", referral={"headline": "Diwali sale"})

    message = _message(world, sent["wamid"])
    details = message.lead.source_details
    assert details["headline"] == "Diwali sale"
    assert details["source_type"] == "ad"
    assert details["source_id"] == "120200000000000001"
    assert details["ctwa_clid"]
    assert "body" not in details  # not an attribution key
    assert message.payload["referral"]["ctwa_clid"] == details["ctwa_clid"]


def test_media_and_unknown_types_are_stored_with_their_metadata(world, channel, wa_simulator):
    document = wa_simulator.inbound(
        from_=CUSTOMER,
        type="document",
        phone_number_id=channel.phone_number_id,
        media={"filename": "quote.pdf", "caption": "signed"},
    )
    unknown = wa_simulator.inbound(
        from_=CUSTOMER, type="unsupported", phone_number_id=channel.phone_number_id
    )
    _settle(world.a)

    doc = _message(world, document["wamid"])
    assert doc.kind == "document"
    assert doc.body == "signed"
    sent_media = document["body"]["entry"][0]["changes"][0]["value"]["messages"][0]["document"]
    assert doc.payload["media"]["id"] == sent_media["id"]
    assert doc.payload["media"]["filename"] == "quote.pdf"
    other = _message(world, unknown["wamid"])
    assert other.kind == "unsupported"
    assert other.payload["type"] == "unsupported"


def test_duplicated_webhooks_store_the_message_once(world, channel, wa_simulator):
    wa_simulator.configure(duplicate=2)

    sent = _say(wa_simulator, channel, "Only once please")

    def three_deliveries():
        with workspace_scope(world.a):
            rows = list(WebhookDelivery.objects.filter(status="processed"))
        return rows if len(rows) == 3 else None

    deliveries = wait_until(three_deliveries)
    with workspace_scope(world.a):
        assert Message.objects.filter(provider_message_id=sent["wamid"]).count() == 1
        assert Conversation.objects.get().unread_count == 1
    assert sorted(d.summary.get("messages", 0) for d in deliveries) == [0, 0, 1]


def test_an_old_message_arriving_late_does_not_move_the_window_back(world, channel, client):
    from heroshhi.whatsapp.tests.webhook_support import post

    now = int(timezone.now().timestamp())
    recent = envelope(
        [
            change(
                channel,
                contacts=[contact(CUSTOMER)],
                messages=[text_message("wamid.new", "new", wa_id=CUSTOMER, ts=str(now))],
            )
        ]
    )
    older = envelope(
        [
            change(
                channel,
                contacts=[contact(CUSTOMER)],
                messages=[text_message("wamid.old", "old", wa_id=CUSTOMER, ts=str(now - 3600))],
            )
        ]
    )

    assert post(client, channel, recent).status_code == 200
    assert post(client, channel, older).status_code == 200

    with workspace_scope(world.a):
        conversation = Conversation.objects.get()
    assert int(conversation.last_inbound_at.timestamp()) == now
    assert conversation.unread_count == 2


def test_a_closed_conversation_reopens_when_the_contact_writes(world, channel, wa_simulator):
    _say(wa_simulator, channel, "Hi")
    with workspace_scope(world.a):
        Conversation.objects.update(
            status=Conversation.Status.CLOSED, closed_at=timezone.now() - timedelta(hours=1)
        )

    _say(wa_simulator, channel, "Back again")

    with workspace_scope(world.a):
        conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.OPEN
    assert conversation.closed_at is None


# Opt-out keywords and preferences -----------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["STOP", "band karo", "रोकें", "Stop!"])
def test_an_opt_out_keyword_opts_out_and_confirms(world, channel, wa_simulator, keyword):
    _say(wa_simulator, channel, "Hi")

    _say(wa_simulator, channel, keyword)

    assert _opted_out(world, phone="+" + CUSTOMER)
    with workspace_scope(world.a):
        record = OptOutRecord.objects.get()
        confirmation = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert record.method == OptOutRecord.Method.KEYWORD
    assert record.trigger == normalise_message(keyword)
    assert confirmation.body == keywords.CONFIRM_OPT_OUT_TEXT
    wait_until(lambda: _outbox_texts(wa_simulator, channel))
    assert keywords.CONFIRM_OPT_OUT_TEXT in str(_outbox_texts(wa_simulator, channel))


def test_a_sentence_that_merely_contains_stop_is_not_an_opt_out(world, channel, wa_simulator):
    _say(wa_simulator, channel, "don't stop the delivery")

    assert not _opted_out(world, phone="+" + CUSTOMER)
    with workspace_scope(world.a):
        assert not OptOutRecord.objects.exists()
        assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()


def test_start_opts_back_in_and_a_repeated_stop_is_not_confirmed_twice(
    world, channel, wa_simulator
):
    # _say waits for each message to be processed before the next is sent: the test is about
    # the replies, not about deliveries racing each other in the live server's threads.
    for text in ("STOP", "stop"):
        _say(wa_simulator, channel, text)
    assert _opted_out(world, phone="+" + CUSTOMER)

    _say(wa_simulator, channel, "START")

    assert not _opted_out(world, phone="+" + CUSTOMER)
    with workspace_scope(world.a):
        bodies = [
            m.body
            for m in Message.objects.filter(direction=Message.Direction.OUTBOUND).order_by(
                "created_at"
            )
        ]
    assert bodies == [keywords.CONFIRM_OPT_OUT_TEXT, keywords.CONFIRM_OPT_IN_TEXT]


def test_a_stop_promotions_button_opts_out(world, channel, wa_simulator):
    wa_simulator.inbound(
        from_=CUSTOMER,
        type="button",
        phone_number_id=channel.phone_number_id,
        button_text="Stop promotions",
        button_payload="STOP_PROMO",
    )
    _settle(world.a)

    assert _opted_out(world, phone="+" + CUSTOMER)


def test_whatsapps_stop_and_resume_preferences_go_on_the_ledger(world, channel, wa_simulator):
    _say(wa_simulator, channel, "Hi")

    stop = wa_simulator.user_preferences(
        wa_id=CUSTOMER, value="stop", phone_number_id=channel.phone_number_id
    )
    assert stop["delivered_status"] == 200
    _settle(world.a)
    assert _opted_out(world, phone="+" + CUSTOMER)

    # Meta redelivers the same event: still one record for it.
    wa_simulator.raw_webhook(body=stop["body"], phone_number_id=channel.phone_number_id)
    _settle(world.a)

    with workspace_scope(world.a):
        records = list(OptOutRecord.objects.order_by("created_at", "seq"))
    assert [(r.status, r.method, r.trigger) for r in records] == [
        ("opted_out", "whatsapp", "user_preferences:stop")
    ]

    wa_simulator.user_preferences(
        wa_id=CUSTOMER, value="resume", phone_number_id=channel.phone_number_id
    )
    _settle(world.a)

    assert not _opted_out(world, phone="+" + CUSTOMER)
    with workspace_scope(world.a):
        assert OptOutRecord.objects.count() == 2


def _preference(channel, value, ts):
    item = {"wa_id": CUSTOMER, "category": "marketing_messages", "value": value, "timestamp": ts}
    return envelope(
        [change(channel, "user_preferences", contacts=[contact(CUSTOMER)], user_preferences=[item])]
    )


def _keyword(channel, wamid, text, ts):
    return envelope(
        [
            change(
                channel,
                contacts=[contact(CUSTOMER)],
                messages=[text_message(wamid, text, wa_id=CUSTOMER, ts=str(ts))],
            )
        ]
    )


def _post_settled(world, client, channel, body):
    """POST a webhook and wait until no delivery is left unprocessed. The simulator's status
    webhooks for our confirmation replies reach the live server meanwhile, and the task one
    of them started may be the one that takes this delivery, in the server's thread."""
    from heroshhi.whatsapp.tests.webhook_support import post

    assert post(client, channel, body).status_code == 200
    _settle(world.a)


def _ledger(world):
    with workspace_scope(world.a):
        records = OptOutRecord.objects.order_by(*OptOutRecord.newest_first())
        return [(r.status, r.trigger) for r in records]


def test_a_stop_older_than_the_latest_resume_is_kept_but_not_applied(world, channel, client):
    now = int(timezone.now().timestamp())
    _post_settled(world, client, channel, _preference(channel, "stop", now - 120))
    _post_settled(world, client, channel, _preference(channel, "resume", now))
    # A retry of an earlier delivery, older than the resume we already applied.
    _post_settled(world, client, channel, _preference(channel, "stop", now - 90))

    assert not _opted_out(world, phone="+" + CUSTOMER)
    # The ledger holds all three, in the order the contact acted.
    assert _ledger(world) == [
        ("opted_in", "user_preferences:resume"),
        ("opted_out", "user_preferences:stop"),
        ("opted_out", "user_preferences:stop"),
    ]


def test_a_late_start_keyword_does_not_undo_a_later_stop(world, channel, client):
    """The contact wrote START, then STOP; the START's webhook comes last. They stay opted
    out, get no "welcome back" reply, and the lead timeline does not show the late START."""
    now = int(timezone.now().timestamp())
    _post_settled(world, client, channel, _keyword(channel, "wamid.hi", "Hi", now - 300))
    _post_settled(world, client, channel, _keyword(channel, "wamid.stop", "STOP", now - 10))
    _post_settled(world, client, channel, _keyword(channel, "wamid.start", "START", now - 60))

    assert _opted_out(world, phone="+" + CUSTOMER)
    assert _ledger(world) == [("opted_out", "stop"), ("opted_in", "start")]
    with workspace_scope(world.a):
        replies = [
            m.body
            for m in Message.objects.filter(direction=Message.Direction.OUTBOUND).order_by(
                "created_at"
            )
        ]
        kinds = list(
            TimelineEvent.objects.filter(
                kind__in=[TimelineEvent.Kind.OPTED_OUT, TimelineEvent.Kind.OPTED_IN]
            ).values_list("kind", flat=True)
        )
    assert replies == [keywords.CONFIRM_OPT_OUT_TEXT]
    assert kinds == [TimelineEvent.Kind.OPTED_OUT]


def test_staff_opt_in_after_a_stop_applies_and_a_later_stop_wins_again(
    world, channel, client, alice
):
    now = int(timezone.now().timestamp())
    _post_settled(world, client, channel, _keyword(channel, "wamid.stop1", "STOP", now - 60))
    with workspace_scope(world.a):
        lead = Lead.objects.get()
    optout.lead_opt_in(workspace=world.a, actor=alice, lead=lead)
    assert not _opted_out(world, phone="+" + CUSTOMER)

    # The contact writes again a second after the staff member acted.
    later = int(timezone.now().timestamp()) + 1
    _post_settled(world, client, channel, _keyword(channel, "wamid.stop2", "band karo", later))
    assert _opted_out(world, phone="+" + CUSTOMER)
