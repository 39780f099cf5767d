"""Sending to a lead: every rule checked in the sending call, then delivered to the simulator.

These tests talk real HTTP to the WhatsApp simulator. Deliveries run eagerly when the test's
on-commit callbacks are executed; a delivery told to wait (a limit, a transient error) stays
pending, as it would until its retry fires.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import TimelineEvent
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.trash import lead_trash
from heroshhi.messaging import delivery, keywords, optout, ratelimits
from heroshhi.messaging.models import Message
from heroshhi.messaging.sending import (
    SendRefused,
    send_confirmation,
    send_template,
    send_text,
    window_closes_at,
    window_open,
)
from heroshhi.messaging.tasks import deliver_message, pending_messages_sweep
from heroshhi.whatsapp.services import channel_delete
from heroshhi.whatsapp.tests.conftest import open_window, wa_digits
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db
TEXT = "Your quote for the 3BHK is ready, Priya"


def _reload(message: Message) -> Message:
    with workspace_scope(message.workspace_id):
        return Message.objects.get(pk=message.pk)


def _messages(workspace) -> list[Message]:
    with workspace_scope(workspace):
        return list(Message.objects.all())


def _outbox(simulator, channel) -> list[dict]:
    return simulator.outbox(phone_number_id=channel.phone_number_id)


def _refusals(lead) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="message_refused", target_id=str(lead.pk)))


# Free-form text ------------------------------------------------------------------------------


def test_a_text_inside_the_window_is_recorded_pending_then_handed_to_whatsapp(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks() as callbacks:
        message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    # Recorded first: pending, no provider id, nothing at WhatsApp yet.
    assert message.status == Message.Status.PENDING
    assert message.provider_message_id is None
    assert message.direction == Message.Direction.OUTBOUND
    assert _outbox(wa_simulator, wa_channel) == []
    assert len(callbacks) == 1

    callbacks[0]()
    stored = _reload(message)
    sent = _outbox(wa_simulator, wa_channel)
    assert len(sent) == 1
    assert sent[0]["wamid"] == stored.provider_message_id
    assert sent[0]["text"] == TEXT
    assert sent[0]["to"] == wa_digits(wa_lead.phone)
    assert sent[0]["biz_opaque_callback_data"] == str(message.pk)
    # Accepted is not sent: the status webhook moves it on.
    assert stored.status == Message.Status.PENDING
    assert stored.attempts == 1


def test_a_send_writes_a_timeline_entry_and_an_audit_event_without_the_content(
    world, alice, wa_simulator, wa_channel, wa_lead
):
    conversation = open_window(wa_simulator, wa_channel, wa_lead)
    message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    with workspace_scope(world.a):
        entry = TimelineEvent.objects.get(lead=wa_lead, kind=TimelineEvent.Kind.MESSAGE_OUT)
        conversation.refresh_from_db()
    assert entry.data == {"message": str(message.pk), "kind": "text"}
    assert conversation.last_message_at == message.created_at
    event = AuditEvent.objects.get(action="message_sent", target_id=str(wa_lead.pk))
    assert event.metadata["message"] == str(message.pk)
    assert event.metadata["kind"] == "text"
    assert "Priya" not in str(event.metadata)
    assert "3BHK" not in str(event.metadata)


def test_the_database_holds_the_text_encrypted(world, alice, wa_simulator, wa_channel, wa_lead):
    from django.db import connection

    open_window(wa_simulator, wa_channel, wa_lead)
    send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM messaging_message")
        rows = cursor.fetchall()
    assert len(rows) == 1
    assert "3BHK" not in str(rows)


def test_a_text_outside_the_window_is_refused_and_nothing_is_sent(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(SendRefused) as refused:
        send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    assert refused.value.code == SendRefused.OUTSIDE_WINDOW
    assert "only approved templates" in refused.value.message
    assert "appointment_reminder" in refused.value.templates
    assert "old_promo" not in refused.value.templates  # paused
    assert _messages(world.a) == []
    assert _outbox(wa_simulator, wa_channel) == []
    [event] = _refusals(wa_lead)
    assert event.reason == "outside_window"
    assert event.outcome == "denied"


def test_the_window_closes_24_hours_after_the_contacts_last_message(
    world, wa_simulator, wa_channel, wa_lead
):
    conversation = open_window(wa_simulator, wa_channel, wa_lead)
    closes = window_closes_at(conversation)
    assert conversation.last_inbound_at is not None
    assert closes == conversation.last_inbound_at + timedelta(hours=24)
    assert window_open(conversation, now=closes - timedelta(seconds=1))
    assert not window_open(conversation, now=closes)
    assert not window_open(None)


def test_quick_replies_go_out_as_reply_buttons(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(
            workspace=world.a,
            actor=alice,
            lead=wa_lead,
            text="Shall we book a visit?",
            quick_replies=["Yes", "Not now"],
        )
    assert message.kind == Message.Kind.INTERACTIVE
    [sent] = _outbox(wa_simulator, wa_channel)
    buttons = sent["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Yes", "Not now"]


@pytest.mark.parametrize(
    "replies", [["A", "B", "C", "D"], ["x" * 21], [""], ["Yes", "yes"]], ids=str
)
def test_bad_quick_replies_are_refused_before_anything_is_recorded(
    world, alice, wa_simulator, wa_channel, wa_lead, replies
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with pytest.raises(ValidationError) as invalid:
        send_text(workspace=world.a, actor=alice, lead=wa_lead, text="Hi", quick_replies=replies)
    assert "quick_replies" in invalid.value.message_dict
    assert _messages(world.a) == []


def test_an_empty_text_is_a_field_error(world, alice, wa_simulator, wa_channel, wa_lead):
    open_window(wa_simulator, wa_channel, wa_lead)
    with pytest.raises(ValidationError) as invalid:
        send_text(workspace=world.a, actor=alice, lead=wa_lead, text="   ")
    assert "text" in invalid.value.message_dict


# Templates ------------------------------------------------------------------------------------


def test_an_approved_template_goes_out_outside_the_window(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_template(
            workspace=world.a,
            actor=alice,
            lead=wa_lead,
            template_name="appointment_reminder",
            language="en",
            variables=["Priya", "Monday 10 am"],
        )
    assert message.kind == Message.Kind.TEMPLATE
    assert (message.body or "").startswith("Hi Priya, this is a reminder of your appointment on")
    assert message.payload == {
        "template": "appointment_reminder",
        "language": "en",
        "variables": ["Priya", "Monday 10 am"],
    }
    [sent] = _outbox(wa_simulator, wa_channel)
    assert sent["type"] == "template"
    assert sent["wamid"] == _reload(message).provider_message_id
    event = AuditEvent.objects.get(action="message_sent", target_id=str(wa_lead.pk))
    assert event.metadata["template"] == "appointment_reminder"
    assert "Priya" not in str(event.metadata)


@pytest.mark.parametrize(
    ("name", "language", "variables", "field"),
    [
        ("appointment_reminder", "en", ["Priya"], "variables"),
        ("appointment_reminder", "en", ["Priya", "Mon", "extra"], "variables"),
        ("appointment_reminder", "hi", ["Priya", "Mon"], "language"),
        ("old_promo", "en", ["Priya"], "template"),  # paused
        ("rejected_promo", "en", ["Priya"], "template"),
        ("no_such_template", "en", [], "template"),
        ("appointment_reminder", "en", ["Priya", "two\nlines"], "variables"),
    ],
)
def test_a_template_that_does_not_fit_is_refused_with_a_field_error_and_not_sent(
    world,
    alice,
    wa_simulator,
    wa_channel,
    wa_lead,
    django_capture_on_commit_callbacks,
    name,
    language,
    variables,
    field,
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as bad:
        send_template(
            workspace=world.a,
            actor=alice,
            lead=wa_lead,
            template_name=name,
            language=language,
            variables=variables,
        )
    assert field in bad.value.message_dict
    assert _messages(world.a) == []
    assert _outbox(wa_simulator, wa_channel) == []


def test_a_template_refused_by_our_checks_is_audited_as_template_invalid(
    world, alice, wa_simulator, wa_channel, wa_lead
):
    with pytest.raises(ValidationError):
        send_template(
            workspace=world.a,
            actor=alice,
            lead=wa_lead,
            template_name="appointment_reminder",
            language="en",
            variables=["only one"],
        )
    [event] = _refusals(wa_lead)
    assert event.reason == "template_invalid"


# Opt-out ----------------------------------------------------------------------------------------


def test_an_opted_out_contact_gets_nothing_text_or_template(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(SendRefused) as text_refused:
            send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
        with pytest.raises(SendRefused) as template_refused:
            send_template(
                workspace=world.a,
                actor=alice,
                lead=wa_lead,
                template_name="appointment_reminder",
                language="en",
                variables=["Priya", "Monday"],
            )
    assert text_refused.value.code == template_refused.value.code == SendRefused.OPTED_OUT
    assert _messages(world.a) == []
    assert _outbox(wa_simulator, wa_channel) == []
    assert [e.reason for e in _refusals(wa_lead)] == ["opted_out", "opted_out"]


def test_a_stop_between_accepting_and_delivering_stops_the_delivery(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks() as callbacks:
        message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=wa_lead)
    callbacks[0]()
    stored = _reload(message)
    assert stored.status == Message.Status.FAILED
    assert stored.error_reason == delivery.REASON_OPTED_OUT
    assert stored.provider_message_id is None
    assert _outbox(wa_simulator, wa_channel) == []


def test_the_opt_out_confirmation_still_reaches_an_opted_out_contact(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    conversation = open_window(wa_simulator, wa_channel, wa_lead, text="STOP")
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        message = send_confirmation(
            workspace=world.a, conversation=conversation, text=keywords.CONFIRM_OPT_OUT_TEXT
        )
    assert _reload(message).provider_message_id is not None
    [sent] = _outbox(wa_simulator, wa_channel)
    assert sent["text"] == keywords.CONFIRM_OPT_OUT_TEXT


def test_a_confirmation_outside_the_window_is_refused(world, wa_simulator, wa_channel, wa_lead):
    conversation = open_window(wa_simulator, wa_channel, wa_lead)
    with workspace_scope(world.a):
        conversation.last_inbound_at = timezone.now() - timedelta(hours=25)
        conversation.save()
    with pytest.raises(SendRefused) as refused:
        send_confirmation(workspace=world.a, conversation=conversation, text="Bye")
    assert refused.value.code == SendRefused.OUTSIDE_WINDOW


def test_a_contact_under_a_processing_restriction_gets_nothing(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    from heroshhi.privacy.services.restriction import lead_restrict

    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks() as callbacks:
        accepted = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    lead_restrict(workspace=world.a, actor=alice, lead=wa_lead)
    callbacks[0]()
    assert _reload(accepted).error_reason == delivery.REASON_RESTRICTED
    with pytest.raises(SendRefused) as refused:
        send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    assert refused.value.code == SendRefused.RESTRICTED
    assert _outbox(wa_simulator, wa_channel) == []
    assert [e.reason for e in _refusals(wa_lead)] == ["restricted"]


# Who may send, and where ---------------------------------------------------------------------


def test_sales_cannot_send_to_a_lead_that_is_not_theirs(
    world, bob, wa_simulator, wa_channel, wa_lead, make_wa_lead
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with pytest.raises(Http404):
        send_text(workspace=world.a, actor=bob, lead=wa_lead, text=TEXT)
    with workspace_scope(world.a):
        bob_member = Membership.objects.get(user=world.bob)
    bobs_lead = make_wa_lead(phone="+919812300000", owner=bob_member)
    open_window(wa_simulator, wa_channel, bobs_lead)
    assert send_text(workspace=world.a, actor=bob, lead=bobs_lead, text=TEXT).pk
    assert len(_messages(world.a)) == 1


def test_a_trashed_lead_cannot_be_messaged(world, alice, wa_simulator, wa_channel, wa_lead):
    open_window(wa_simulator, wa_channel, wa_lead)
    lead_trash(workspace=world.a, actor=alice, lead=wa_lead)
    with pytest.raises(Http404):
        send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)


def test_an_actor_without_a_role_cannot_send(world, wa_simulator, wa_channel, wa_lead):
    from heroshhi.core.actors import Actor

    with pytest.raises(PermissionDenied):
        send_text(workspace=world.a, actor=Actor.system(), lead=wa_lead, text=TEXT)


def test_without_a_channel_the_send_is_refused_as_no_channel(world, charlie):
    lead = lead_create(
        workspace=world.b,
        actor=charlie,
        name="Ravi",
        phone="+919811100000",
        email=None,
        source="manual",
    ).lead
    with pytest.raises(SendRefused) as refused:
        send_text(workspace=world.b, actor=charlie, lead=lead, text="Hello")
    assert refused.value.code == SendRefused.NO_CHANNEL


def test_a_lead_without_a_phone_is_a_field_error(world, alice, wa_channel):
    lead = lead_create(
        workspace=world.a, actor=alice, name="No Phone", phone=None, email=None, source="manual"
    ).lead
    with pytest.raises(ValidationError) as invalid:
        send_text(workspace=world.a, actor=alice, lead=lead, text="Hello")
    assert "lead" in invalid.value.message_dict


# Delivery ---------------------------------------------------------------------------------------


def test_delivery_is_idempotent(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    assert deliver_message.delay(str(message.pk)).get() == "skipped"
    assert delivery.deliver(str(message.pk)).outcome == "skipped"
    assert len(_outbox(wa_simulator, wa_channel)) == 1
    assert _reload(message).attempts == 1


def test_a_wrong_token_fails_the_message_with_a_readable_reason(
    world, alice, wa_simulator, make_wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    channel = make_wa_channel(token="EAAG-wrong", sync_templates=False)
    open_window(wa_simulator, channel, wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    stored = _reload(message)
    assert stored.status == Message.Status.FAILED
    assert stored.error_code == 190
    assert "access token" in stored.error_reason
    assert stored.failed_at is not None
    assert _outbox(wa_simulator, channel) == []


def test_a_template_gone_at_whatsapp_fails_permanently(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    # Our copy still says approved; WhatsApp no longer has it.
    keep = [t for t in wa_simulator.templates(wa_channel.waba_id) if t["name"] != "lead_followup"]
    wa_simulator.set_templates(wa_channel.waba_id, keep)
    with django_capture_on_commit_callbacks(execute=True):
        message = send_template(
            workspace=world.a,
            actor=alice,
            lead=wa_lead,
            template_name="lead_followup",
            language="en",
            variables=["Priya", "the 3BHK"],
        )
    stored = _reload(message)
    assert stored.status == Message.Status.FAILED
    assert stored.error_code == 132001
    assert "not approved" in stored.error_reason or "does not exist" in stored.error_reason
    assert stored.attempts == 1


def test_throughput_errors_are_retried_until_the_message_goes_out(
    world,
    alice,
    wa_simulator,
    make_wa_channel,
    make_wa_lead,
    django_capture_on_commit_callbacks,
):
    channel = make_wa_channel(throughput_per_second=1)
    first_lead = make_wa_lead(phone="+919800000001")
    second_lead = make_wa_lead(phone="+919800000002")
    for lead in (first_lead, second_lead):
        open_window(wa_simulator, channel, lead)
    with django_capture_on_commit_callbacks(execute=True):
        first = send_text(workspace=world.a, actor=alice, lead=first_lead, text="One")
        second = send_text(workspace=world.a, actor=alice, lead=second_lead, text="Two")
    assert _reload(first).provider_message_id is not None
    waiting = _reload(second)
    # 130429 is transient: still pending, one attempt spent, not failed.
    assert waiting.status == Message.Status.PENDING
    assert waiting.provider_message_id is None
    assert waiting.attempts == 1
    time.sleep(1.1)
    assert deliver_message.delay(str(second.pk)).get() == "accepted"
    assert _reload(second).provider_message_id is not None
    assert {m["text"] for m in _outbox(wa_simulator, channel)} == {"One", "Two"}


def test_transient_failures_give_up_after_the_last_attempt(
    world, alice, wa_simulator, wa_channel, wa_lead, settings, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    settings.WHATSAPP_PAIR_SPACING_SECONDS = 0
    with django_capture_on_commit_callbacks() as callbacks:
        message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    # Nothing listens on the discard port: every attempt is a connection failure.
    settings.WHATSAPP_GRAPH_BASE_URL = "http://127.0.0.1:9"
    callbacks[0]()
    for _attempt in range(delivery.MAX_ATTEMPTS - 1):
        assert _reload(message).status == Message.Status.PENDING
        deliver_message.delay(str(message.pk))
    stored = _reload(message)
    assert stored.status == Message.Status.FAILED
    assert stored.attempts == delivery.MAX_ATTEMPTS
    assert stored.error_reason.startswith(f"Gave up after {delivery.MAX_ATTEMPTS} attempts")
    assert _outbox(wa_simulator, wa_channel) == []


def test_the_pair_limit_defers_a_second_message_to_the_same_contact(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks(execute=True):
        send_text(workspace=world.a, actor=alice, lead=wa_lead, text="First")
        second = send_text(workspace=world.a, actor=alice, lead=wa_lead, text="Second")
    waiting = _reload(second)
    # Deferred by our own limiter: no provider call was spent on it.
    assert waiting.status == Message.Status.PENDING
    assert waiting.attempts == 0
    time.sleep(ratelimits.PAIR_SPACING_SECONDS + 0.3)
    assert deliver_message.delay(str(second.pk)).get() == "accepted"
    assert [m["text"] for m in _outbox(wa_simulator, wa_channel)] == ["First", "Second"]


def test_the_throughput_limiter_grants_the_tier_per_second_then_says_how_long_to_wait():
    now = 1_700_000_000.25
    waits = [
        ratelimits.throughput_wait(channel_id="tier-test", per_second=3, now=now) for _ in range(4)
    ]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.75 <= waits[3] <= 1.0
    assert ratelimits.throughput_wait(channel_id="tier-test", per_second=3, now=now + 1) == 0.0


def test_a_removed_channel_fails_what_was_waiting_for_it(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks() as callbacks:
        message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    channel_delete(workspace=world.a, actor=alice, channel=wa_channel)
    callbacks[0]()
    stored = _reload(message)
    assert stored.status == Message.Status.FAILED
    assert stored.error_reason == delivery.REASON_CHANNEL_REMOVED
    assert _outbox(wa_simulator, wa_channel) == []


def test_the_sweep_requeues_messages_whose_task_was_lost(
    world, alice, wa_simulator, wa_channel, wa_lead, django_capture_on_commit_callbacks
):
    open_window(wa_simulator, wa_channel, wa_lead)
    with django_capture_on_commit_callbacks():  # the broker loses the task
        message = send_text(workspace=world.a, actor=alice, lead=wa_lead, text=TEXT)
    assert pending_messages_sweep() == {"requeued": 0}  # too young to be called lost
    with workspace_scope(world.a):
        Message.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(minutes=3)
        )
    assert pending_messages_sweep() == {"requeued": 1}
    assert _reload(message).provider_message_id is not None
    assert pending_messages_sweep() == {"requeued": 0}
    assert len(_outbox(wa_simulator, wa_channel)) == 1


@pytest.fixture
def real_worker():
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_a_throttled_message_with_a_countdown(
    world, alice, wa_simulator, make_wa_channel, make_wa_lead, real_worker
):
    channel = make_wa_channel(throughput_per_second=1)
    leads = [make_wa_lead(phone=f"+91980000001{n}") for n in range(3)]
    for lead in leads:
        open_window(wa_simulator, channel, lead)
    # One real commit: then every send queues its delivery for the worker at once.
    with transaction.atomic():
        messages = [
            send_text(workspace=world.a, actor=alice, lead=lead, text=f"Hello {n}")
            for n, lead in enumerate(leads)
        ]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        stored = [_reload(m) for m in messages]
        if all(m.provider_message_id for m in stored):
            break
    assert all(m.provider_message_id for m in stored)
    assert all(m.status == Message.Status.PENDING for m in stored)
    # At one message a second, at least one of them had to wait for a retry.
    assert max(m.attempts for m in stored) >= 2
    assert len(_outbox(wa_simulator, channel)) == 3
