"""Starting and finishing a retention run: the lock that keeps two real runs apart, the
run record, and its totals on the platform audit chain."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.privacy.models import RetentionRun
from heroshhi.privacy.retention.engine import RetentionEngine
from heroshhi.privacy.retention.rules import RULES
from heroshhi.workspaces.models import Workspace

BATCH_SIZE = 500
LOCK_STALE = timedelta(minutes=15)


class RetentionLocked(Exception):
    """Another run is working (its heartbeat is fresh)."""


def _acquire(
    *, as_of: datetime, dry_run: bool, trigger: str, workspace: Workspace | None
) -> RetentionRun:
    """Start a run record; a real run also takes the lock (a dry run changes nothing, so
    it needs none)."""
    wall = timezone.now()
    run = RetentionRun(
        trigger=trigger,
        dry_run=dry_run,
        workspace_ref=str(workspace.pk) if workspace else "",
        as_of=as_of,
        started_at=wall,
        heartbeat_at=wall,
        holds_lock=None if dry_run else True,
    )
    if dry_run:
        run.save(force_insert=True)
        return run
    try:
        with transaction.atomic():
            holder = RetentionRun.objects.select_for_update().filter(holds_lock=True).first()
            if holder is not None:
                if holder.heartbeat_at > wall - LOCK_STALE:
                    raise RetentionLocked(str(holder.pk))
                # Its process is gone: close it and carry on where it stopped.
                holder.status = RetentionRun.Status.INTERRUPTED
                holder.holds_lock = None
                holder.finished_at = wall
                holder.save(update_fields=["status", "holds_lock", "finished_at"])
                run.resumed_from = holder
            run.save(force_insert=True)
    except IntegrityError:
        # Another process took the lock between our read and our insert.
        raise RetentionLocked("concurrent") from None
    return run


def retention_run(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    workspace: Workspace | None = None,
    trigger: str = RetentionRun.Trigger.COMMAND,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
) -> RetentionRun:
    """Apply every retention rule as of ``now`` and return the run's report.

    ``workspace`` limits the run to that workspace's rules (the platform rules, audit
    purge and terminated workspaces, are skipped). ``max_batches`` stops the run after that
    many batches; what is left is done by the next run. Raises ``RetentionLocked`` while
    another real run is working.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    as_of = now or timezone.now()
    run = _acquire(as_of=as_of, dry_run=dry_run, trigger=trigger, workspace=workspace)
    engine = RetentionEngine(
        run, workspace=workspace, batch_size=batch_size, max_batches=max_batches
    )
    started = time.monotonic()
    try:
        engine.execute()
    finally:
        run.results = engine.results()
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.holds_lock = None
        if engine.incomplete:
            run.status = RetentionRun.Status.INCOMPLETE
        elif run.errors:
            run.status = RetentionRun.Status.FINISHED_WITH_ERRORS
        else:
            run.status = RetentionRun.Status.FINISHED
        run.save()
        _audit_platform(run)
    return run


def _audit_platform(run: RetentionRun) -> None:
    """The whole run's totals on the platform chain (workspaces got their own events)."""
    if run.dry_run:
        return
    audit_record(
        workspace=None,
        actor=Actor.system(),
        action=AuditAction.RETENTION_RUN,
        target=("retention_run", run.pk),
        reason="retention",
        metadata={
            "status": run.status,
            "totals": {rule: run.total(rule) for rule in RULES},
            "errors": len(run.errors),
            "workspace": run.workspace_ref or None,
        },
    )
