"""Writers queue events; the sequencer links them into the chain, in batches, in id order."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from functools import partial
from itertools import pairwise
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from heroshhi.audit import sequencer, tasks
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.errors import AuditImmutableError
from heroshhi.audit.models import GENESIS_MAC, PLATFORM_CHAIN, AuditChainHead, AuditEvent
from heroshhi.audit.selectors import (
    audit_events_for_workspace,
    audit_queue,
    chains_with_queued_events,
)
from heroshhi.audit.tests import tampering
from heroshhi.audit.verify import ProblemCode, verify_chain

pytestmark = [pytest.mark.django_db, pytest.mark.audit_queue]


def _linked(chain: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=chain, seq__isnull=False).order_by("seq"))


def _pk(event: AuditEvent) -> str:
    return event.pk.hex if connection.vendor == "sqlite" else str(event.pk)


def test_a_write_queues_the_event_sealed_by_its_writer_and_unlinked(record, workspace_a):
    event = record(workspace_a)
    assert (event.seq, event.prev_mac, event.mac) == (None, "", "")
    assert len(event.entry_mac) == 64
    assert not AuditChainHead.objects.filter(chain=event.chain).exists()
    assert audit_queue(event.chain).count == 1


def test_the_sequencer_links_the_queue_in_id_order_in_batches(record, workspace_a):
    chain = str(workspace_a.pk)
    queued = [record(workspace_a, metadata={"n": n}) for n in range(7)]

    run = sequencer.audit_sequence(chain, batch_size=3)

    assert (run.linked, run.busy, run.unfinished) == (7, False, False)
    linked = _linked(chain)
    assert [event.pk for event in linked] == [event.pk for event in queued]
    assert [event.seq for event in linked] == list(range(1, 8))
    assert linked[0].prev_mac == GENESIS_MAC
    assert all(b.prev_mac == a.mac for a, b in pairwise(linked))
    head = AuditChainHead.objects.get(chain=chain)
    assert (head.last_seq, head.last_mac) == (7, linked[-1].mac)
    assert verify_chain(chain).ok
    assert audit_queue(chain).count == 0


def test_a_second_run_continues_the_chain_from_its_head(record, workspace_a):
    chain = str(workspace_a.pk)
    record(workspace_a)
    sequencer.audit_sequence(chain)
    record(workspace_a)
    record(workspace_a)
    assert sequencer.audit_sequence(chain).linked == 2
    assert [event.seq for event in _linked(chain)] == [1, 2, 3]
    assert verify_chain(chain).ok


def test_a_run_stops_after_its_batch_limit_and_says_so(record, workspace_a):
    chain = str(workspace_a.pk)
    for _ in range(5):
        record(workspace_a)
    run = sequencer.audit_sequence(chain, batch_size=2, max_batches=2)
    assert (run.linked, run.unfinished) == (4, True)
    assert audit_queue(chain).count == 1


def test_chains_are_linked_separately(record, workspace_a, workspace_b):
    record(workspace_a)
    record(workspace_b)
    record(None, AuditAction.AUTHN_LOGIN_SUCCESS)
    assert sequencer.audit_sequence(str(workspace_a.pk)).linked == 1
    assert chains_with_queued_events() == sorted([PLATFORM_CHAIN, str(workspace_b.pk)])


def test_the_viewer_lists_linked_events_only(record, workspace_a):
    record(workspace_a)
    sequencer.audit_sequence(str(workspace_a.pk))
    record(workspace_a)
    assert [event.seq for event in audit_events_for_workspace(workspace_a)] == [1]


# Verification and the queue ---------------------------------------------------------------


def test_verification_covers_the_linked_part_and_reports_the_queue(record, workspace_a):
    chain = str(workspace_a.pk)
    for _ in range(3):
        record(workspace_a)
    sequencer.audit_sequence(chain)
    now = timezone.now()
    oldest = record(workspace_a, at=now - timedelta(seconds=75))
    record(workspace_a, at=now - timedelta(seconds=5))

    result = verify_chain(chain)

    assert result.ok, result.problem
    assert (result.events_checked, result.head_seq) == (3, 3)
    assert result.queue.count == 2
    assert result.queue.oldest_at == oldest.occurred_at
    assert result.queue.age_seconds(now) == pytest.approx(75, abs=0.01)
    assert result.queue.is_stale(now)


def test_a_queue_younger_than_a_minute_is_not_stale(record, workspace_a):
    now = timezone.now()
    record(workspace_a, at=now - timedelta(seconds=59))
    queue = audit_queue(str(workspace_a.pk))
    assert queue.count == 1
    assert not queue.is_stale(now)
    assert not audit_queue(PLATFORM_CHAIN).is_stale(now)
    assert audit_queue(PLATFORM_CHAIN).age_seconds(now) is None


def test_an_event_edited_while_queued_is_never_linked_and_is_reported(record, workspace_a, caplog):
    chain = str(workspace_a.pk)
    edited = record(workspace_a, metadata={"n": 1})
    record(workspace_a, metadata={"n": 2})
    tampering.raw_sql(
        "UPDATE audit_auditevent SET metadata = %s WHERE id = %s", ['{"n": 99}', _pk(edited)]
    )

    with caplog.at_level(logging.ERROR, logger="heroshhi.audit.sequencer"):
        run = sequencer.audit_sequence(chain)

    assert (run.linked, run.rejected) == (1, {edited.pk})
    assert AuditEvent.objects.get(pk=edited.pk).seq is None
    (logged,) = caplog.records
    assert logged.event_id == str(edited.pk)
    assert "99" not in logged.getMessage()
    result = verify_chain(chain)
    assert result.problem is not None
    assert (result.problem.code, result.problem.seq) == (ProblemCode.ENTRY_MISMATCH, None)
    assert result.events_checked == 1


def test_an_event_slipped_into_the_queue_without_the_key_is_never_linked(record, workspace_a):
    chain = str(workspace_a.pk)
    genuine = record(workspace_a)
    tampering.insert_event(
        AuditEvent(
            chain=chain,
            occurred_at=genuine.occurred_at,
            actor_type=genuine.actor_type,
            action=AuditAction.DATA_EXPORT,
            outcome=genuine.outcome,
            key_id=genuine.key_id,
            entry_mac="f" * 64,  # without the audit key a valid entry MAC cannot be made
        )
    )
    assert sequencer.audit_sequence(chain).linked == 1
    assert [event.pk for event in _linked(chain)] == [genuine.pk]
    problem = verify_chain(chain).problem
    assert problem is not None
    assert problem.code == ProblemCode.ENTRY_MISMATCH


def test_audit_verify_prints_the_queue_and_warns_when_it_is_stale(record, workspace_a):
    record(workspace_a)
    sequencer.audit_sequence(str(workspace_a.pk))
    record(workspace_a, at=timezone.now() - timedelta(minutes=5))
    out = io.StringIO()
    call_command("audit_verify", "--workspace", str(workspace_a.pk), stdout=out)
    line = out.getvalue().splitlines()[0]
    assert line.startswith(f"OK    {workspace_a.pk}  events=1 from_seq=1 head=1 queued=1")
    assert "oldest_queued=300." in line
    assert "WARN queued over 60 s" in line


def test_audit_verify_stays_quiet_about_a_fresh_queue(record, workspace_a):
    record(workspace_a)
    out = io.StringIO()
    call_command("audit_verify", "--workspace", str(workspace_a.pk), stdout=out)
    assert "queued=1 oldest_queued=" in out.getvalue()
    assert "WARN" not in out.getvalue()


# Only the sequencer links, once --------------------------------------------------------------


def test_events_cannot_be_stored_already_linked(workspace_a):
    event = AuditEvent(chain=str(workspace_a.pk), seq=1, mac="f" * 64, entry_mac="e" * 64)
    with pytest.raises(AuditImmutableError):
        event.save()
    with pytest.raises(AuditImmutableError):
        AuditEvent.objects.bulk_create([event])


def test_the_database_refuses_a_row_inserted_already_linked(record, workspace_a):
    event = record(workspace_a)
    columns = "id, chain, seq, occurred_at, actor_type, actor_id, actor_role, action, " + (
        "target_type, target_id, outcome, reason, user_agent, request_id, metadata, "
        "prev_mac, mac, key_id, entry_mac"
    )
    params = [
        _pk(AuditEvent(chain=event.chain)),
        event.chain,
        1,
        event.occurred_at,
        "system",
        "",
        "",
        "data_export",
        "",
        "",
        "success",
        "",
        "",
        "",
        "{}",
        GENESIS_MAC,
        "f" * 64,
        event.key_id,
        "e" * 64,
    ]
    placeholders = ", ".join(["%s"] * len(params))
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO audit_auditevent ({columns}) VALUES ({placeholders})", params)  # noqa: S608


@pytest.mark.parametrize(
    ("assignments", "params"),
    [
        ("seq = 1", []),  # a seq without its MACs
        ("seq = 1, prev_mac = %s, mac = %s, reason = 'covered_up'", [GENESIS_MAC, "f" * 64]),
        ("reason = 'covered_up'", []),
        ("entry_mac = %s", ["e" * 64]),
    ],
)
def test_the_database_refuses_anything_but_a_whole_link_of_a_queued_row(
    record, workspace_a, assignments, params
):
    event = record(workspace_a)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE audit_auditevent SET {assignments} WHERE id = %s",  # noqa: S608
            [*params, _pk(event)],
        )
    assert AuditEvent.objects.get(pk=event.pk).seq is None


def test_the_database_refuses_linking_a_row_twice(record, workspace_a):
    event = record(workspace_a)
    sequencer.audit_sequence(event.chain)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET seq = 2, prev_mac = %s, mac = %s WHERE id = %s",
            [GENESIS_MAC, "f" * 64, _pk(event)],
        )
    assert AuditEvent.objects.get(pk=event.pk).seq == 1


# Waking the sequencer ----------------------------------------------------------------------


def test_a_burst_of_commits_stands_one_wake_up_per_chain(workspace_a, workspace_b):
    cache.clear()
    with mock.patch.object(tasks.audit_sequence_chain, "delay") as delay:
        for _ in range(5):
            tasks.sequencer_wake(str(workspace_a.pk))
        tasks.sequencer_wake(str(workspace_b.pk))
    assert sorted(call.args for call in delay.call_args_list) == sorted(
        [(str(workspace_a.pk),), (str(workspace_b.pk),)]
    )


def test_the_task_removes_the_wake_up_before_it_links(record, workspace_a):
    cache.clear()
    chain = str(workspace_a.pk)
    record(workspace_a)
    with mock.patch.object(tasks.audit_sequence_chain, "delay") as delay:
        tasks.sequencer_wake(chain)
        assert tasks.audit_sequence_chain(chain) == 1
        tasks.sequencer_wake(chain)  # an event committed after the task started
    assert delay.call_count == 2


def test_a_wake_up_that_cannot_be_queued_leaves_the_work_to_beat(workspace_a, caplog):
    cache.clear()
    chain = str(workspace_a.pk)
    broken = mock.patch.object(
        tasks.audit_sequence_chain, "delay", side_effect=ConnectionError("broker down")
    )
    with broken, caplog.at_level(logging.ERROR, logger="heroshhi.audit.tasks"):
        tasks.sequencer_wake(chain)  # must not raise: the writer's change has committed
    assert "beat will" in caplog.text
    with mock.patch.object(tasks.audit_sequence_chain, "delay") as delay:
        tasks.sequencer_wake(chain)
    assert delay.call_count == 1  # the failed wake-up did not stand


def test_an_unfinished_run_wakes_its_chain_again(record, workspace_a):
    cache.clear()
    chain = str(workspace_a.pk)
    record(workspace_a)
    record(workspace_a)
    one_batch_of_one = partial(sequencer.audit_sequence, batch_size=1, max_batches=1)
    with (
        mock.patch.object(sequencer, "audit_sequence", one_batch_of_one),
        mock.patch.object(tasks.audit_sequence_chain, "delay") as delay,
    ):
        assert tasks.audit_sequence_chain(chain) == 1
    delay.assert_called_once_with(chain)


def test_beat_links_every_chain_with_queued_events(record, workspace_a, workspace_b):
    for _ in range(2):
        record(workspace_a)
    record(workspace_b)
    record(None, AuditAction.AUTHN_LOGIN_SUCCESS)

    assert tasks.audit_sequence_backlog.delay().get() == 4

    assert chains_with_queued_events() == []
    for chain in (str(workspace_a.pk), str(workspace_b.pk), PLATFORM_CHAIN):
        assert verify_chain(chain).ok


def test_beat_runs_the_backlog_job_often_enough_for_the_one_minute_warning(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audit-sequence-backlog"]
    assert entry["task"] == tasks.audit_sequence_backlog.name
    assert entry["schedule"] <= 30
