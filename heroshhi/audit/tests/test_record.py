from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.errors import AuditMetadataError, AuditPersonalDataError
from heroshhi.audit.models import GENESIS_MAC, PLATFORM_CHAIN, AuditEvent
from heroshhi.audit.services import AuditRecord, audit_record, audit_record_many
from heroshhi.audit.verify import verify_chain
from heroshhi.core.actors import Actor
from heroshhi.core.request_context import RequestMeta, current_request

pytestmark = pytest.mark.django_db


def test_it_starts_each_chain_at_seq_1_linked_to_the_genesis_mac(record, workspace_a):
    event = record(workspace_a)
    assert (event.chain, event.seq, event.prev_mac) == (str(workspace_a.pk), 1, GENESIS_MAC)
    assert len(event.mac) == 64
    assert len(event.key_id) == 8


def test_it_keeps_separate_sequences_per_workspace_and_platform(record, workspace_a, workspace_b):
    first_a = record(workspace_a)
    second_a = record(workspace_a)
    first_b = record(workspace_b)
    platform = record(None, AuditAction.AUTHN_LOGIN_SUCCESS)
    assert [first_a.seq, second_a.seq, first_b.seq, platform.seq] == [1, 2, 1, 1]
    assert second_a.prev_mac == first_a.mac
    assert platform.chain == PLATFORM_CHAIN
    assert platform.workspace_id is None


def test_it_stores_actor_target_outcome_and_reason(workspace_a):
    lead_id = uuid.uuid4()
    actor = Actor.user("7d2c1c8e-2f0b-4a59-9d4e-2b1f2d1c0a11", role="sales")
    event = audit_record(
        workspace=workspace_a,
        actor=actor,
        action=AuditAction.AUTHZ_FAIL,
        outcome=Outcome.DENIED,
        target=("lead", lead_id),
        reason="not_assigned",
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_type, stored.actor_id, stored.actor_role) == ("user", actor.id, "sales")
    assert (stored.target_type, stored.target_id) == ("lead", str(lead_id))
    assert (stored.action, stored.outcome, stored.reason) == (
        "authz_fail",
        "denied",
        "not_assigned",
    )


def test_it_captures_request_facts_from_the_current_request(record, workspace_a):
    token = current_request.set(
        RequestMeta(request_id="req-0123456789", ip="203.0.113.9", user_agent="Firefox/140")
    )
    try:
        event = record(workspace_a)
    finally:
        current_request.reset(token)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.ip, stored.request_id, stored.user_agent) == (
        "203.0.113.9",
        "req-0123456789",
        "Firefox/140",
    )


def test_it_stores_ipv6_in_the_form_the_database_returns(record, workspace_a):
    token = current_request.set(RequestMeta("req-1", "2001:0DB8:0000::0001", ""))
    try:
        event = record(workspace_a)
    finally:
        current_request.reset(token)
    assert AuditEvent.objects.get(pk=event.pk).ip == event.ip == "2001:db8::1"


def test_it_leaves_request_facts_empty_outside_a_request(record, workspace_a):
    event = record(workspace_a)
    assert (event.ip, event.request_id, event.user_agent) == (None, "", "")


@pytest.mark.parametrize(
    "metadata",
    [
        {"email": "alice@example.com"},
        {"contact": "Reach me at a.b+crm@mail.example.co.in"},
        {"phone": "+91 98765 43210"},
        {"phone": "987-654-3210"},
        {"phone": "(022) 2345 6789"},
        {"phone": "9876543"},
        {"ref": "lead_9876543210"},
        {"nested": {"deeper": ["ok", "+919876543210"]}},
        {"bob@example.com": True},
    ],
)
def test_it_rejects_emails_and_phone_numbers_in_metadata(record, workspace_a, metadata):
    with pytest.raises(AuditPersonalDataError) as excinfo:
        record(workspace_a, metadata=metadata)
    # The message names where the problem is, never the value itself.
    assert "example" not in str(excinfo.value)
    assert "98765" not in str(excinfo.value)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    "target",
    [("phone", "+919876543210"), ("user", "alice@example.com")],
)
def test_it_rejects_personal_data_as_a_target_id(record, workspace_a, target):
    with pytest.raises(AuditPersonalDataError):
        record(workspace_a, target=target)


def test_it_accepts_ids_counts_field_names_and_dates(record, workspace_a):
    metadata = {
        "lead_id": str(uuid.uuid4()),
        "fields": ["phone", "email", "name"],
        "count": 1234567890,
        "ratio": 0.25,
        "dry_run": False,
        "invoice": "INV-2024-000123",
        "digest": "a3f1c9" + "1234567" * 8,
        "day": "2026-05-31",
        "at": "2026-05-31T23:59:59.123456+05:30",
        "version": "3.14159265",
        "none": None,
    }
    event = record(workspace_a, metadata=metadata)
    assert AuditEvent.objects.get(pk=event.pk).metadata == metadata


@pytest.mark.parametrize(
    "metadata",
    [
        {"when": object()},
        {1: "numeric key"},
        {"deep": {"a": {"b": {"c": {"d": {"e": 1}}}}}},
        {"blob": "x" * 5000},
        {"nan": float("nan")},
    ],
)
def test_it_rejects_metadata_that_is_not_small_plain_data(record, workspace_a, metadata):
    with pytest.raises(AuditMetadataError):
        record(workspace_a, metadata=metadata)


def test_it_rejects_a_reason_that_is_not_a_short_code(record, workspace_a):
    with pytest.raises(AuditMetadataError):
        record(workspace_a, reason="Wrong password typed by the user")


def test_it_rejects_an_action_outside_the_vocabulary(record, workspace_a):
    with pytest.raises(ValueError, match="AuditAction"):
        record(workspace_a, action="lead_teleported")


def test_a_failed_audit_write_rolls_back_the_callers_change(record, workspace_a):
    def service_with_a_bad_audit_call() -> None:
        with transaction.atomic():
            record(workspace_a)  # stands in for the change being audited
            record(workspace_a, metadata={"email": "alice@example.com"})

    with pytest.raises(AuditPersonalDataError):
        service_with_a_bad_audit_call()
    assert not AuditEvent.objects.filter(chain=str(workspace_a.pk)).exists()


def test_a_batch_of_events_is_one_verifiable_stretch_of_the_chain(record, workspace_a, alice):
    first = record(workspace_a)
    queued = audit_record_many(
        workspace=workspace_a,
        actor=alice,
        records=[
            AuditRecord(action="lead_created", target=("lead", n), metadata={"n": n})
            for n in range(5)
        ],
    )
    last = record(workspace_a)
    batch = [AuditEvent.objects.get(pk=event.pk) for event in queued]
    assert [event.seq for event in batch] == [2, 3, 4, 5, 6]
    assert batch[0].prev_mac == first.mac
    assert last.prev_mac == batch[-1].mac
    assert verify_chain(str(workspace_a.pk)).ok
    assert AuditEvent.objects.filter(chain=str(workspace_a.pk)).count() == 7


def test_a_batch_checks_every_event_before_writing_any(workspace_a, alice):
    with pytest.raises(AuditPersonalDataError):
        audit_record_many(
            workspace=workspace_a,
            actor=alice,
            records=[
                AuditRecord(action="lead_created", metadata={"n": 1}),
                AuditRecord(action="lead_created", metadata={"who": "priya@example.in"}),
            ],
        )
    assert not AuditEvent.objects.filter(chain=str(workspace_a.pk)).exists()
