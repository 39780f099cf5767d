from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from heroshhi.audit.errors import AuditImmutableError
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.verify import verify_chain

pytestmark = pytest.mark.django_db


def test_save_refuses_to_update_an_existing_event(record, workspace_a):
    event = record(workspace_a)
    event.reason = "covered_up"
    with pytest.raises(AuditImmutableError):
        event.save()


def test_delete_is_refused_for_an_event_and_a_queryset(record, workspace_a):
    event = record(workspace_a)
    with pytest.raises(AuditImmutableError):
        event.delete()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_is_refused(record, workspace_a):
    event = record(workspace_a)
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.filter(pk=event.pk).update(reason="covered_up")


def test_events_cannot_be_created_without_the_service(workspace_a):
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.create(chain=str(workspace_a.pk), seq=1)
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.bulk_create([AuditEvent(chain=str(workspace_a.pk), seq=1)])


def test_the_database_refuses_a_raw_update(record, workspace_a):
    event = record(workspace_a)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET reason = %s WHERE id = %s",
            ["covered_up", event.pk.hex if connection.vendor == "sqlite" else event.pk],
        )
    assert AuditEvent.objects.get(pk=event.pk).reason == ""


def test_the_database_refuses_moving_an_event_to_another_workspace(
    record, workspace_a, workspace_b
):
    event = record(workspace_a)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET workspace_id = %s WHERE chain = %s",
            [
                workspace_b.pk.hex if connection.vendor == "sqlite" else workspace_b.pk,
                event.chain,
            ],
        )


def test_deleting_a_workspace_keeps_its_events_and_the_chain_still_verifies(record, workspace_a):
    events = [record(workspace_a) for _ in range(3)]
    chain = str(workspace_a.pk)
    workspace_a.delete()
    kept = AuditEvent.objects.filter(chain=chain)
    assert kept.count() == len(events)
    assert not kept.exclude(workspace=None).exists()
    assert verify_chain(chain).ok
