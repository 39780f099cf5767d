"""In a transaction that commits, the commit itself wakes the sequencer (eager in tests)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record
from heroshhi.audit.verify import verify_chain

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_event_is_queued_until_its_transaction_commits_then_linked(workspace_a, alice):
    cache.clear()
    with transaction.atomic():
        event = audit_record(workspace=workspace_a, actor=alice, action=AuditAction.LEAD_UPDATED)
        assert AuditEvent.objects.get(pk=event.pk).seq is None
    assert AuditEvent.objects.get(pk=event.pk).seq == 1
    assert verify_chain(event.chain).ok


def test_an_event_rolled_back_with_its_change_wakes_nothing(workspace_a, alice):
    cache.clear()

    class Failed(Exception):
        pass

    def change_that_fails() -> None:
        with transaction.atomic():
            audit_record(workspace=workspace_a, actor=alice, action=AuditAction.LEAD_UPDATED)
            raise Failed

    with pytest.raises(Failed):
        change_that_fails()
    assert not AuditEvent.objects.filter(chain=str(workspace_a.pk)).exists()
    assert cache.get(f"audit-sequencer-wake:{workspace_a.pk}") is None
