from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest

from heroshhi.audit import sequencer, services
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import PLATFORM_CHAIN, AuditCheckpoint, AuditEvent
from heroshhi.audit.services import audit_purge_expired
from heroshhi.audit.tasks import audit_purge_expired as audit_purge_expired_task
from heroshhi.audit.tests import tampering
from heroshhi.audit.tests.conftest import NOW
from heroshhi.audit.verify import ProblemCode, verify_chain, verify_chains

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


@pytest.fixture
def aged_chain(record, workspace_a) -> str:
    """Three events from 366+ days ago, then two from 364 days ago."""
    for days in (400, 380, 366):
        record(workspace_a, at=NOW - days * DAY)
    for _ in range(2):
        record(workspace_a, at=NOW - 364 * DAY)
    return str(workspace_a.pk)


def purge(at=NOW, **kwargs):
    """Run the purge as if the clock read ``at`` (receipts are stamped with the clock)."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        return audit_purge_expired(now=at, **kwargs)


def _seqs(chain: str) -> list[int | None]:
    return list(
        AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True)
    )


def test_purge_removes_only_events_older_than_365_days_and_appends_a_receipt(aged_chain):
    report = purge()

    assert report.deleted == 3
    assert _seqs(aged_chain) == [4, 5, 6]
    receipt = AuditEvent.objects.get(chain=aged_chain, seq=6)
    assert receipt.action == AuditAction.AUDIT_PURGED
    assert receipt.reason == "retention"
    assert receipt.metadata["count"] == 3
    assert (receipt.metadata["first_seq"], receipt.metadata["last_seq"]) == (1, 3)
    checkpoint = AuditCheckpoint.objects.get(chain=aged_chain)
    assert (checkpoint.first_seq, checkpoint.through_seq, checkpoint.count) == (1, 3, 3)
    assert checkpoint.through_mac == receipt.metadata["last_mac"]


def test_the_chain_still_verifies_from_the_checkpoint_after_a_purge(aged_chain):
    purge()
    result = verify_chain(aged_chain)
    assert result.ok, result.problem
    assert (result.start_seq, result.events_checked, result.checkpoint_seq) == (4, 3, 3)


def test_purge_is_idempotent(aged_chain):
    purge()
    again = purge(NOW + timedelta(hours=6))
    assert again.deleted == 0
    assert AuditCheckpoint.objects.filter(chain=aged_chain).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_PURGED).count() == 1
    assert verify_chain(aged_chain).ok


def test_a_later_purge_continues_from_the_previous_checkpoint(aged_chain):
    purge()
    later = purge(NOW + 2 * DAY)  # the 364-day events age out, the receipt stays
    assert later.deleted == 2
    assert _seqs(aged_chain) == [6, 7]
    checkpoints = AuditCheckpoint.objects.filter(chain=aged_chain).order_by("through_seq")
    assert [(c.first_seq, c.through_seq) for c in checkpoints] == [(1, 3), (4, 5)]
    assert verify_chain(aged_chain).ok


def test_a_purge_interrupted_before_deleting_finishes_on_the_next_run(aged_chain):
    with (
        mock.patch.object(
            services, "_dangerously_delete_purged_events", side_effect=RuntimeError("crash")
        ),
        pytest.raises(RuntimeError),
    ):
        purge()
    # Checkpointed but not yet deleted: the leftovers are ignored by the verifier.
    assert _seqs(aged_chain) == [1, 2, 3, 4, 5, 6]
    assert verify_chain(aged_chain).ok

    report = purge()
    assert report.deleted == 3
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_PURGED).count() == 1
    assert verify_chain(aged_chain).ok


def test_purge_works_in_batches_and_on_the_platform_chain(record):
    for _ in range(7):
        record(None, AuditAction.AUTHN_LOGIN_SUCCESS, at=NOW - 500 * DAY)
    report = purge(batch_size=3)
    assert report.deleted == 7
    assert _seqs(PLATFORM_CHAIN) == [8]
    assert verify_chain(PLATFORM_CHAIN).ok


def test_purge_leaves_a_tampered_prefix_in_place_as_evidence(aged_chain):
    tampering.delete_event(aged_chain, 2)
    report = purge()
    (failed,) = report.failed
    assert failed.problem is not None
    assert failed.problem.code == ProblemCode.SEQ_GAP
    assert _seqs(aged_chain) == [1, 3, 4, 5]
    assert not AuditCheckpoint.objects.exists()


def test_purge_keeps_the_events_of_a_deleted_workspace_verifiable(aged_chain, workspace_a):
    workspace_a.delete()
    purge()
    receipt = AuditEvent.objects.get(action=AuditAction.AUDIT_PURGED)
    assert receipt.workspace_id is None
    assert all(result.ok for result in verify_chains())


def test_the_celery_task_purges_with_the_real_clock_and_takes_no_arguments(record):
    with mock.patch("django.utils.timezone.now", return_value=NOW + 400 * DAY):
        record(None, AuditAction.AUTHN_LOGOUT, at=NOW)
        summary = audit_purge_expired_task.delay().get()
    assert summary == {"chains": 1, "deleted": 1, "failed": 0}


@pytest.mark.audit_queue
def test_purge_works_on_the_linked_part_and_links_its_receipt_with_its_checkpoint(
    record, workspace_a
):
    chain = str(workspace_a.pk)
    for days in (400, 380):
        record(workspace_a, at=NOW - days * DAY)
    record(workspace_a, at=NOW - 10 * DAY)
    sequencer.audit_sequence(chain)
    waiting = record(workspace_a, at=NOW - 390 * DAY)  # old, but still queued

    report = purge()

    assert report.deleted == 2
    checkpoint = AuditCheckpoint.objects.get(chain=chain)
    assert (checkpoint.first_seq, checkpoint.through_seq) == (1, 2)
    # The receipt was linked in the checkpoint's transaction, after what was queued before.
    assert AuditEvent.objects.get(pk=waiting.pk).seq == 4
    receipt = AuditEvent.objects.get(action=AuditAction.AUDIT_PURGED)
    assert receipt.seq == 5
    assert _seqs(chain) == [3, 4, 5]
    result = verify_chain(chain)
    assert result.ok, result.problem
    assert (result.start_seq, result.events_checked, result.queue.count) == (3, 3, 0)
