"""The retention engine (P05/P16, P07, P14/P15, P17, P18): one run applies every rule and
writes one report.

Rules, in the order a run applies them:

* ``terminated_workspaces``: workspaces whose 30-day grace after termination has ended are
  deleted by ``heroshhi.workspaces.termination`` (its keys destroyed there);
* ``audit``: audit events older than 365 days are purged by ``audit_purge_expired``, which
  seals a checkpoint first so each chain stays verifiable;
* ``trash``: leads in the trash for 30 days are hard-deleted with everything that cascades
  from them (messages, conversations, calls, notes, tasks, timeline, consent records);
* ``message_retention``: where the owner chose it, messages older than N days are deleted
  (the conversation rows stay);
* ``inactive_leads``: where the owner chose it, leads with no activity for N months move
  to the trash (and so leave for good 30 days later).

Exempt by construction, because no rule names them: the opt-out ledger (P18) and the
analytics aggregates, which hold no personal data.

The engine is the only scheduler of these purges: the daily beat entry runs
``heroshhi.privacy.tasks.retention_run_daily`` and the separate audit and trash beat
entries were retired, so the report sees every deletion.

Safety: each batch is its own transaction and each rule only ever selects what is still
due, so a run can stop anywhere (crash, deploy, batch budget) and the next run finishes the
work; re-running changes nothing that is already done. A lock row keeps two runs from
working at once; a run whose heartbeat stopped for ``LOCK_STALE`` is taken over.
"""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import PLATFORM_CHAIN, AuditCheckpoint, AuditEvent
from heroshhi.audit.services import (
    AuditRecord,
    audit_purge_expired,
    audit_record,
    audit_record_many,
)
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import TRASH_RETENTION_DAYS, Lead, TimelineEvent
from heroshhi.messaging.models import Conversation, Message
from heroshhi.privacy.models import RetentionPolicy, RetentionRun, RetentionRunWorkspace
from heroshhi.workspaces.models import Workspace

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# Conversations whose old messages one step of the message rule looks at.
CONVERSATION_PAGE = 200
LOCK_STALE = timedelta(minutes=15)
TERMINATION_MODULE = "heroshhi.workspaces.termination"

RULE_TERMINATED = "terminated_workspaces"
RULE_AUDIT = "audit"
RULE_TRASH = "trash"
RULE_MESSAGES = "message_retention"
RULE_INACTIVE = "inactive_leads"
RULES = (RULE_TERMINATED, RULE_AUDIT, RULE_TRASH, RULE_MESSAGES, RULE_INACTIVE)
# Platform rules cover every workspace at once; a run limited to one workspace skips them.
PLATFORM_RULES = frozenset({RULE_TERMINATED, RULE_AUDIT})
# Never touched by any rule (asserted in the tests): the ledger outlives every lead.
EXEMPT = ("messaging.OptOutRecord", "analytics aggregates")

RULE_LABELS = {
    RULE_TERMINATED: "Terminated workspaces (30 days after termination)",
    RULE_AUDIT: "Audit events older than 365 days",
    RULE_TRASH: "Leads in the trash for 30 days",
    RULE_MESSAGES: "Messages older than your retention setting",
    RULE_INACTIVE: "Leads without activity, moved to the trash",
}

# Policy limits: below these a typo would wipe a business's history overnight.
MESSAGE_DAYS_MIN, MESSAGE_DAYS_MAX = 30, 3650
INACTIVE_MONTHS_MIN, INACTIVE_MONTHS_MAX = 3, 120


class RetentionLocked(Exception):
    """Another run is working (its heartbeat is fresh)."""


class _BudgetSpent(Exception):
    """The run's batch budget is used up; the next run continues from here."""


def months_before(moment: datetime, months: int) -> datetime:
    """The same day-of-month ``months`` calendar months earlier (clamped to month end)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    last_day = _days_in_month(year, month)
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + (month == 12), month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def _termination() -> ModuleType | None:
    """The termination module of the workspaces app, when it is installed."""
    try:
        return importlib.import_module(TERMINATION_MODULE)
    except ImportError:
        return None


def _cascade_models() -> list[tuple[type[models.Model], str]]:
    """(model, lead field) for every model a lead's deletion removes with it."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for model_field in model._meta.get_fields():
            if (
                isinstance(model_field, models.ForeignKey)
                and model_field.related_model is Lead
                and model_field.remote_field.on_delete is models.CASCADE
            ):
                found.append((model, model_field.attname))
    return found


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    duration: float = 0.0
    skipped: str = ""


class _Engine:
    def __init__(
        self,
        run: RetentionRun,
        *,
        workspace: Workspace | None,
        batch_size: int,
        max_batches: int | None,
    ) -> None:
        self.run = run
        self.now = run.as_of
        self.dry_run = run.dry_run
        self.only = workspace
        self.batch_size = batch_size
        self.budget = max_batches
        self.tallies: dict[str, _Tally] = {rule: _Tally() for rule in RULES}
        self.per_workspace: dict[Any, dict[str, Counter[str]]] = {}
        self.workspace_errors: dict[Any, list[dict[str, str]]] = {}
        self.incomplete = False

    # Bookkeeping ----------------------------------------------------------------------

    def _batch_done(self) -> None:
        """Count a batch against the budget and prove the run is alive."""
        RetentionRun.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now())
        if self.budget is not None:
            self.budget -= 1

    def _may_continue(self) -> None:
        if self.budget is not None and self.budget <= 0:
            raise _BudgetSpent

    def _add(self, rule: str, workspace_id: Any, counts: Counter[str] | dict[str, int]) -> None:
        tally = self.tallies[rule]
        tally.counts.update(counts)
        if workspace_id is not None:
            mine = self.per_workspace.setdefault(workspace_id, {})
            mine.setdefault(rule, Counter()).update(counts)

    def _error(self, rule: str, workspace_id: Any, exc: BaseException) -> None:
        self.tallies[rule].errors += 1
        entry = {"rule": rule, "workspace": str(workspace_id or ""), "error": type(exc).__name__}
        self.run.errors.append(entry)
        if workspace_id is not None:
            self.workspace_errors.setdefault(workspace_id, []).append(
                {"rule": rule, "error": type(exc).__name__}
            )
        logger.exception(
            "retention rule failed", extra={"rule": rule, "workspace": str(workspace_id or "")}
        )

    def _timed(self, rule: str, body: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            body()
        finally:
            self.tallies[rule].duration += time.monotonic() - started

    # The run --------------------------------------------------------------------------

    def execute(self) -> None:
        try:
            platform: list[tuple[str, Callable[[], None]]] = [
                (RULE_TERMINATED, self._rule_terminated_workspaces),
                (RULE_AUDIT, self._rule_audit),
            ]
            for rule, body in platform:
                if self.only is not None:
                    self.tallies[rule].skipped = "workspace_run"
                    continue
                self._may_continue()
                try:
                    self._timed(rule, body)
                except _BudgetSpent:
                    raise
                except Exception as exc:  # the other rules still run
                    self._error(rule, None, exc)
            for workspace in self._workspaces():
                self._may_continue()
                self._workspace_rules(workspace)
        except _BudgetSpent:
            self.incomplete = True

    def _workspaces(self) -> list[Workspace]:
        """The workspace of a limited run, else every workspace with something due (or a
        policy, so its owner sees that the run looked)."""
        if self.only is not None:
            return [self.only]
        cutoff = self.now - timedelta(days=TRASH_RETENTION_DAYS)
        ids = set(
            Lead.objects.unscoped()
            .filter(deleted_at__lt=cutoff)
            .values_list("workspace_id", flat=True)
            .distinct()
        )
        ids.update(
            RetentionPolicy.objects.unscoped()
            .filter(
                models.Q(delete_messages_after_days__isnull=False)
                | models.Q(trash_inactive_leads_after_months__isnull=False)
            )
            .values_list("workspace_id", flat=True)
        )
        ids.update(self.per_workspace)  # audit purges already counted for these
        # A terminated workspace is a tombstone: nothing of it is left to keep or report.
        live = Workspace.objects.filter(pk__in=ids).exclude(status="terminated")
        return list(live.order_by("created_at", "pk"))

    def _workspace_rules(self, workspace: Workspace) -> None:
        with workspace_scope(workspace):
            policy = RetentionPolicy.objects.first()
        rules: list[tuple[str, Callable[[], None]]] = [
            (RULE_TRASH, lambda: self._rule_trash(workspace))
        ]
        if policy is not None and policy.delete_messages_after_days:
            days = policy.delete_messages_after_days
            rules.append((RULE_MESSAGES, lambda: self._rule_messages(workspace, days)))
        if policy is not None and policy.trash_inactive_leads_after_months:
            months = policy.trash_inactive_leads_after_months
            rules.append((RULE_INACTIVE, lambda: self._rule_inactive(workspace, months)))
        try:
            for rule, body in rules:
                try:
                    self._timed(rule, body)
                except _BudgetSpent:
                    raise
                except Exception as exc:  # one workspace's failure must not stop the others
                    self._error(rule, workspace.pk, exc)
        finally:
            self._report_workspace(workspace)

    # Rules ----------------------------------------------------------------------------

    def _rule_terminated_workspaces(self) -> None:
        termination = _termination()
        if termination is None:
            self.tallies[RULE_TERMINATED].skipped = "termination_not_installed"
            return
        due: list[Workspace] = termination.terminations_due(now=self.now)
        details = self.run.results.setdefault(RULE_TERMINATED, {}).setdefault("workspaces", {})
        for workspace in due:
            self._may_continue()
            if self.dry_run:
                self._add(RULE_TERMINATED, None, {"workspaces.Workspace": 1})
                continue
            workspace_id = str(workspace.pk)
            try:
                deleted: dict[str, int] = termination.workspace_delete_terminated(
                    workspace=workspace, now=self.now, batch_size=self.batch_size
                )
            except Exception as exc:
                self._error(RULE_TERMINATED, workspace_id, exc)
                continue
            details[workspace_id] = {str(k): int(v) for k, v in deleted.items()}
            self._add(RULE_TERMINATED, None, {"workspaces.Workspace": 1})
            self._batch_done()

    def _rule_audit(self) -> None:
        cutoff = self.now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
        if self.dry_run:
            for chain, count in _expired_audit_events(cutoff):
                self._add(RULE_AUDIT, _chain_workspace(chain), {"audit.AuditEvent": count})
            return
        report = audit_purge_expired(self.now, batch_size=self.batch_size)
        for purged in report.chains:
            if purged.deleted:
                self._add(
                    RULE_AUDIT, _chain_workspace(purged.chain), {"audit.AuditEvent": purged.deleted}
                )
            if purged.problem is not None:
                # The purge left that chain's expired events in place as evidence.
                self.tallies[RULE_AUDIT].errors += 1
                self.run.errors.append(
                    {
                        "rule": RULE_AUDIT,
                        "workspace": str(_chain_workspace(purged.chain) or ""),
                        "error": f"chain_{purged.problem.code.value}",
                    }
                )
        if report.deleted:
            self._batch_done()

    def _rule_trash(self, workspace: Workspace) -> None:
        cutoff = self.now - timedelta(days=TRASH_RETENTION_DAYS)
        with workspace_scope(workspace):
            due = Lead.objects.filter(deleted_at__lt=cutoff)
            if self.dry_run:
                self._add(RULE_TRASH, workspace.pk, _cascade_counts(due))
                return
        while True:
            self._may_continue()
            deleted = _purge_trash_batch(workspace, cutoff=cutoff, batch_size=self.batch_size)
            if not deleted:
                return
            self._add(RULE_TRASH, workspace.pk, deleted)
            self._batch_done()

    def _rule_messages(self, workspace: Workspace, days: int) -> None:
        cutoff = self.now - timedelta(days=days)
        with workspace_scope(workspace):
            due = Message.objects.filter(created_at__lt=cutoff)
            if self.dry_run:
                self._add(RULE_MESSAGES, workspace.pk, {Message._meta.label: due.count()})
                return
        # Walked conversation by conversation, so every lookup uses the message thread
        # index (conversation, created_at) instead of scanning the workspace's messages.
        after = None
        while True:
            with workspace_scope(workspace):
                page = Conversation.objects.order_by("pk")
                if after is not None:
                    page = page.filter(pk__gt=after)
                conversation_ids = list(page.values_list("pk", flat=True)[:CONVERSATION_PAGE])
            if not conversation_ids:
                return
            while True:
                self._may_continue()
                deleted = _delete_messages_batch(
                    workspace,
                    conversation_ids=conversation_ids,
                    cutoff=cutoff,
                    days=days,
                    batch_size=self.batch_size,
                )
                if not deleted:
                    break
                self._add(RULE_MESSAGES, workspace.pk, deleted)
                self._batch_done()
            after = conversation_ids[-1]

    def _rule_inactive(self, workspace: Workspace, months: int) -> None:
        cutoff = months_before(self.now, months)
        with workspace_scope(workspace):
            due = Lead.objects.filter(deleted_at__isnull=True, last_activity_at__lt=cutoff)
            if self.dry_run:
                self._add(RULE_INACTIVE, workspace.pk, {Lead._meta.label: due.count()})
                return
        while True:
            self._may_continue()
            moved = _trash_inactive_batch(
                workspace, cutoff=cutoff, now=self.now, months=months, batch_size=self.batch_size
            )
            if not moved:
                return
            self._add(RULE_INACTIVE, workspace.pk, {Lead._meta.label: moved})
            self._batch_done()

    # Reports --------------------------------------------------------------------------

    def _report_workspace(self, workspace: Workspace) -> None:
        counts = {
            rule: dict(sorted(tally.items()))
            for rule, tally in self.per_workspace.get(workspace.pk, {}).items()
            if tally
        }
        errors = self.workspace_errors.get(workspace.pk, [])
        with transaction.atomic(), workspace_scope(workspace):
            RetentionRunWorkspace.objects.update_or_create(
                run=self.run,
                workspace=workspace,
                defaults={"counts": counts, "errors": errors},
            )
            if not self.dry_run:
                audit_record(
                    workspace=workspace,
                    actor=Actor.system(),
                    action=AuditAction.RETENTION_RUN,
                    target=("retention_run", self.run.pk),
                    reason="retention",
                    metadata={"counts": counts, "errors": len(errors)},
                )

    def results(self) -> dict[str, Any]:
        previous = self.run.results
        out: dict[str, Any] = {}
        for rule, tally in self.tallies.items():
            entry: dict[str, Any] = {
                "counts": dict(sorted(tally.counts.items())),
                "duration_ms": int(tally.duration * 1000),
                "errors": tally.errors,
            }
            if tally.skipped:
                entry["skipped"] = tally.skipped
            if rule in previous and "workspaces" in previous[rule]:
                entry["workspaces"] = previous[rule]["workspaces"]
            out[rule] = entry
        return out


# Batches: each its own transaction, so a stop anywhere loses nothing ----------------------


def _cascade_counts(leads: models.QuerySet[Lead]) -> Counter[str]:
    """What deleting ``leads`` would remove, per table (a dry run's answer)."""
    ids = list(leads.values_list("pk", flat=True))
    counts: Counter[str] = Counter()
    if not ids:
        return counts
    counts[Lead._meta.label] = len(ids)
    for model, attname in _cascade_models():
        manager = model._base_manager
        found = manager.filter(**{f"{attname}__in": ids}).count()
        if found:
            counts[model._meta.label] += found
    return counts


@transaction.atomic
def _purge_trash_batch(workspace: Workspace, *, cutoff: datetime, batch_size: int) -> Counter[str]:
    with workspace_scope(workspace):
        ids = list(
            Lead.objects.filter(deleted_at__lt=cutoff)
            .order_by("deleted_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return Counter()
        # Everything hanging off the leads goes with them through CASCADE foreign keys.
        _total, per_model = Lead.objects.filter(pk__in=ids).delete()
        deleted = Counter({label: n for label, n in per_model.items() if n})
        audit_record(
            workspace=workspace,
            actor=Actor.system(),
            action=AuditAction.DATA_DELETE,
            reason="retention",
            metadata={"entity": "lead", "rule": RULE_TRASH, "deleted": dict(deleted)},
        )
    return deleted


@transaction.atomic
def _delete_messages_batch(
    workspace: Workspace,
    *,
    conversation_ids: list[uuid.UUID],
    cutoff: datetime,
    days: int,
    batch_size: int,
) -> Counter[str]:
    with workspace_scope(workspace):
        ids = list(
            Message.objects.filter(conversation_id__in=conversation_ids, created_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return Counter()
        _total, per_model = Message.objects.filter(pk__in=ids).delete()
        deleted = Counter({label: n for label, n in per_model.items() if n})
        audit_record(
            workspace=workspace,
            actor=Actor.system(),
            action=AuditAction.DATA_DELETE,
            reason="retention",
            metadata={
                "entity": "message",
                "rule": RULE_MESSAGES,
                "older_than_days": days,
                "deleted": dict(deleted),
            },
        )
    return deleted


@transaction.atomic
def _trash_inactive_batch(
    workspace: Workspace, *, cutoff: datetime, now: datetime, months: int, batch_size: int
) -> int:
    """Like ``lead_trash`` for a batch: trash time, a timeline entry and an audit event per
    lead, by the system actor (no role check: the owner's policy is the authority)."""
    actor = Actor.system()
    with workspace_scope(workspace):
        ids = list(
            Lead.objects.filter(deleted_at__isnull=True, last_activity_at__lt=cutoff)
            .order_by("last_activity_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        # The guard on deleted_at keeps a lead trashed meanwhile from being counted twice.
        moved_ids = [
            pk
            for pk in ids
            if Lead.objects.filter(pk=pk, deleted_at__isnull=True).update(deleted_at=now)
        ]
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(
                    workspace=workspace,
                    lead_id=pk,
                    kind=TimelineEvent.Kind.DELETED,
                    actor_type=actor.type.value,
                    actor_id="",
                    data={"reason": "retention", "inactive_months": months},
                )
                for pk in moved_ids
            ]
        )
        audit_record_many(
            workspace=workspace,
            actor=actor,
            records=[
                AuditRecord(
                    action=AuditAction.LEAD_DELETED,
                    target=("lead", pk),
                    reason="retention",
                    metadata={"mode": "trash", "rule": RULE_INACTIVE, "inactive_months": months},
                )
                for pk in moved_ids
            ],
        )
    return len(moved_ids)


def _chain_workspace(chain: str) -> uuid.UUID | None:
    """The live workspace id of an audit chain, or None (platform, or deleted)."""
    if chain == PLATFORM_CHAIN:
        return None
    return Workspace.objects.filter(pk=uuid.UUID(chain)).values_list("pk", flat=True).first()


def _expired_audit_events(cutoff: datetime) -> Iterable[tuple[str, int]]:
    """Per chain, the events a purge would delete now (beyond the newest checkpoint)."""
    checkpoints = dict(
        AuditCheckpoint.objects.values("chain")
        .annotate(through=Max("through_seq"))
        .values_list("chain", "through")
    )
    rows = (
        AuditEvent.objects.filter(occurred_at__lt=cutoff)
        .values_list("chain", "seq")
        .order_by("chain", "seq")
    )
    counts: Counter[str] = Counter()
    for chain, seq in rows.iterator():
        if seq > (checkpoints.get(chain) or 0):
            counts[chain] += 1
    return sorted(counts.items())


# Running --------------------------------------------------------------------------------


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
    engine = _Engine(run, workspace=workspace, batch_size=batch_size, max_batches=max_batches)
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
