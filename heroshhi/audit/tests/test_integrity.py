from __future__ import annotations

import pytest
from django.utils import timezone

from heroshhi.audit import integrity
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record

pytestmark = pytest.mark.django_db


def test_the_mac_covers_every_stored_field_except_the_macs_and_the_workspace_link():
    stored = {f.name for f in AuditEvent._meta.concrete_fields}
    sealed = set(integrity.event_payload(AuditEvent(occurred_at=timezone.now())))
    assert {"mac", "entry_mac", "workspace"} == integrity.UNSEALED_EVENT_FIELDS
    assert sealed == stored - integrity.UNSEALED_EVENT_FIELDS


def test_the_entry_mac_covers_all_that_but_the_link_the_sequencer_adds():
    stored = {f.name for f in AuditEvent._meta.concrete_fields}
    sealed = set(integrity.entry_payload(AuditEvent(occurred_at=timezone.now())))
    assert sealed == stored - integrity.UNSEALED_EVENT_FIELDS - {"seq", "prev_mac"}


def test_the_macs_of_a_stored_event_are_reproducible_after_reloading(workspace_a, alice):
    written = audit_record(
        workspace=workspace_a,
        actor=alice,
        action=AuditAction.LEAD_UPDATED,
        metadata={"ratio": 0.1, "whole": 3.0, "huge": 1e300},
    )
    reloaded = AuditEvent.objects.get(pk=written.pk)
    secret = integrity.current_key().secret
    # The writer sealed the values it held; the sequencer checks them as stored.
    assert integrity.entry_mac(reloaded, secret) == written.entry_mac
    assert reloaded.seq == 1
    assert integrity.event_mac(reloaded, secret) == reloaded.mac


def test_whole_floats_and_integers_have_one_canonical_form():
    assert integrity.canonical_json({"b": 2.0, "a": [1e20]}) == integrity.canonical_json(
        {"a": [100000000000000000000], "b": 2}
    )


def test_each_audit_key_has_its_own_short_key_id(settings):
    settings.AUDIT_HMAC_KEY = "first-audit-key"
    first = integrity.current_key().key_id
    settings.AUDIT_HMAC_KEY = "second-audit-key"
    second = integrity.current_key().key_id
    assert len(first) == len(second) == 8
    assert first != second
