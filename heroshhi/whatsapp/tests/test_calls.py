"""Calls: logged by staff and through the API, and WhatsApp Calling webhooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.messaging.calls import call_log
from heroshhi.messaging.models import Call, Conversation
from heroshhi.messaging.sending import window_open
from heroshhi.whatsapp.tests.webhook_support import make_channel, register
from heroshhi.workspaces.permissions import Role

CUSTOMER = "919812300003"


@pytest.fixture
def alice(world):
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def lead(world, alice):
    return lead_create(
        workspace=world.a,
        actor=alice,
        name="Caller",
        phone="+" + CUSTOMER,
        email=None,
        source="manual",
    ).lead


def _log(world, actor, lead, **overrides):
    fields: dict[str, Any] = {
        "direction": "out",
        "started_at": timezone.now() - timedelta(minutes=10),
        "duration_seconds": 95,
        "outcome": "connected",
        "notes": "Wants a quote for 40 units",
        "recording_url": "https://recordings.example/abc.mp3",
        "from_number": "+919800000009",
        "to_number": "+" + CUSTOMER,
    }
    fields.update(overrides)
    return call_log(workspace=world.a, actor=actor, lead=lead, **fields)


# Logged by staff ------------------------------------------------------------------------------


def test_logging_a_call_writes_the_call_timeline_and_audit_without_numbers(world, alice, lead):
    call = _log(world, alice, lead)

    with workspace_scope(world.a):
        call = Call.objects.get(pk=call.pk)
        [entry] = TimelineEvent.objects.filter(lead=lead, kind=TimelineEvent.Kind.CALL)
        [event] = AuditEvent.objects.filter(action=AuditAction.CALL_LOGGED)
    assert (call.direction, call.outcome, call.duration_seconds, call.via) == (
        "out",
        "connected",
        95,
        "phone",
    )
    assert call.notes == "Wants a quote for 40 units"
    assert call.to_number == "+" + CUSTOMER
    assert str(call.logged_by_id) == str(world.alice.pk)
    facts = {
        "call": str(call.pk),
        "direction": "out",
        "outcome": "connected",
        "duration_seconds": 95,
        "via": "phone",
    }
    assert entry.data == facts
    assert event.metadata == facts
    assert CUSTOMER not in str(event.metadata) + str(entry.data)


def test_a_sales_member_logs_calls_only_on_their_own_leads(world, lead):
    bob = Actor.user(world.bob.pk, role=Role.SALES)

    with pytest.raises(Http404):
        _log(world, bob, lead)


def test_bad_call_input_is_refused_field_by_field(world, alice, lead):
    with pytest.raises(ValidationError) as caught:
        _log(
            world,
            alice,
            lead,
            direction="sideways",
            outcome="in_progress",
            duration_seconds=-1,
            started_at=timezone.now() + timedelta(days=1),
            recording_url="javascript:alert(1)",
            to_number="not a number",
        )

    assert set(caught.value.message_dict) == {
        "direction",
        "outcome",
        "duration_seconds",
        "started_at",
        "recording_url",
        "to_number",
    }
    with workspace_scope(world.a):
        assert not Call.objects.exists()


def test_a_role_without_call_logging_is_refused(world, lead):
    with pytest.raises(PermissionDenied):
        _log(world, Actor.system(), lead)


# The API ----------------------------------------------------------------------------------------


def test_the_api_logs_and_lists_a_leads_calls(client, world, lead):
    headers = issue_key(world.a)
    url = f"/api/v1/leads/{lead.pk}/calls"
    body = {
        "direction": "in",
        "started_at": (timezone.now() - timedelta(hours=1)).isoformat(),
        "duration_seconds": 30,
        "outcome": "no_answer",
        "notes": "Call back after 6",
    }

    created = client.post(url, body, content_type="application/json", **headers)
    listed = client.get(url, **headers)

    assert created.status_code == 201, created.content
    assert created.json()["outcome"] == "no_answer"
    assert created.json()["notes"] == "Call back after 6"
    assert created.json()["logged_by"] is None
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [created.json()["id"]]


def test_the_api_answers_bad_input_with_the_error_envelope(client, world, lead):
    headers = issue_key(world.a)
    url = f"/api/v1/leads/{lead.pk}/calls"

    unknown_field = client.post(
        url,
        {"direction": "in", "started_at": timezone.now().isoformat(), "outcome": "busy", "x": 1},
        content_type="application/json",
        **headers,
    )
    bad_outcome = client.post(
        url,
        {"direction": "in", "started_at": timezone.now().isoformat(), "outcome": "great"},
        content_type="application/json",
        **headers,
    )

    assert unknown_field.status_code == 422
    assert bad_outcome.status_code == 422
    assert bad_outcome.json()["error"]["fields"] == {
        "outcome": ["Choose connected, no answer, busy, failed or voicemail."]
    }


@pytest.mark.parametrize(
    ("started", "problem"),
    [
        (timedelta(days=365 * 70), "in the future"),
        (timedelta(minutes=20), "in the future"),
        (-timedelta(days=31), "more than 30 days ago"),
    ],
)
def test_the_api_refuses_a_start_outside_the_logging_bounds(client, world, lead, started, problem):
    body = {
        "direction": "in",
        "started_at": (timezone.now() + started).isoformat(),
        "outcome": "busy",
    }
    response = client.post(
        f"/api/v1/leads/{lead.pk}/calls",
        body,
        content_type="application/json",
        **issue_key(world.a),
    )
    assert response.status_code == 422, response.content
    assert problem in response.json()["error"]["fields"]["started_at"][0]
    with workspace_scope(world.a):
        assert not Call.objects.exists()


def test_a_call_of_29_days_ago_is_still_logged(world, alice, lead):
    assert _log(world, alice, lead, started_at=timezone.now() - timedelta(days=29)).pk


def test_another_workspaces_key_cannot_see_or_log_calls(client, world, lead):
    headers = issue_key(world.b)
    url = f"/api/v1/leads/{lead.pk}/calls"

    assert client.get(url, **headers).status_code == 404
    body = {"direction": "in", "started_at": timezone.now().isoformat(), "outcome": "busy"}
    assert client.post(url, body, content_type="application/json", **headers).status_code == 404


# WhatsApp Calling webhooks -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_whatsapp_call_connects_then_terminates(world, live_server, wa_simulator):
    channel = make_channel(world.a)
    register(wa_simulator, live_server.url, channel)

    connect = wa_simulator.call(
        from_=CUSTOMER, event="connect", phone_number_id=channel.phone_number_id, name="Dev"
    )
    with workspace_scope(world.a):
        call = Call.objects.get(provider_call_id=connect["call_id"])
        conversation = Conversation.objects.get(lead=call.lead)
    assert (call.via, call.direction, call.outcome) == ("whatsapp", "in", "in_progress")
    assert call.lead.source == "whatsapp"
    assert call.from_number == "+" + CUSTOMER
    # A call from the contact opens the window like a message.
    assert window_open(conversation)

    for _ in range(2):  # redelivered terminate: applied once
        ended = wa_simulator.call(
            from_=CUSTOMER,
            event="terminate",
            call_id=connect["call_id"],
            status="COMPLETED",
            duration=42,
            phone_number_id=channel.phone_number_id,
        )
        assert ended["delivered_status"] == 200

    with workspace_scope(world.a):
        call.refresh_from_db()
        outcomes = [
            e.data["outcome"]
            for e in TimelineEvent.objects.filter(kind=TimelineEvent.Kind.CALL).order_by(
                "created_at"
            )
        ]
        assert Call.objects.count() == 1
        assert Lead.objects.count() == 1
    assert (call.outcome, call.duration_seconds) == ("connected", 42)
    assert outcomes == ["in_progress", "connected"]


@pytest.mark.django_db(transaction=True)
def test_a_terminate_that_overtakes_its_connect_still_makes_one_call(
    world, live_server, wa_simulator, alice
):
    channel = make_channel(world.a)
    register(wa_simulator, live_server.url, channel)
    lead_create(
        workspace=world.a,
        actor=alice,
        name="Known",
        phone="+" + CUSTOMER,
        email=None,
        source="manual",
    )

    ended = wa_simulator.call(
        from_=CUSTOMER,
        event="terminate",
        call_id="wacid.SWAPPED",
        status="FAILED",
        phone_number_id=channel.phone_number_id,
    )
    wa_simulator.call(
        from_=CUSTOMER,
        event="connect",
        call_id="wacid.SWAPPED",
        phone_number_id=channel.phone_number_id,
    )

    with workspace_scope(world.a):
        [call] = Call.objects.all()
    assert ended["call_id"] == call.provider_call_id
    assert call.outcome == "failed"
    assert call.lead.name == "Known"
