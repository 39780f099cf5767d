"""One run's work: which rules apply to which workspaces, each rule's loop over its
batches, the batch budget, and the per-rule and per-workspace report."""

from __future__ import annotations

import importlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import ModuleType
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_purge_expired, audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import TRASH_RETENTION_DAYS, Lead
from heroshhi.messaging.models import Conversation, Message
from heroshhi.privacy.models import RetentionPolicy, RetentionRun, RetentionRunWorkspace
from heroshhi.privacy.retention.batches import (
    cascade_counts,
    chain_workspace,
    delete_messages_batch,
    expired_audit_events,
    purge_trash_batch,
    trash_inactive_batch,
)
from heroshhi.privacy.retention.rules import (
    RULE_AUDIT,
    RULE_INACTIVE,
    RULE_MESSAGES,
    RULE_TERMINATED,
    RULE_TRASH,
    RULES,
    months_before,
)
from heroshhi.workspaces.models import Workspace

logger = logging.getLogger(__name__)

# Conversations whose old messages one step of the message rule looks at.
CONVERSATION_PAGE = 200
TERMINATION_MODULE = "heroshhi.workspaces.termination"


class _BudgetSpent(Exception):
    """The run's batch budget is used up; the next run continues from here."""


def _termination() -> ModuleType | None:
    """The termination module of the workspaces app, when it is installed."""
    try:
        return importlib.import_module(TERMINATION_MODULE)
    except ImportError:
        return None


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    duration: float = 0.0
    skipped: str = ""


class RetentionEngine:
    """The work of one run: the platform rules, then each due workspace's rules, counted
    per rule and per workspace until done or out of batch budget."""

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
            for chain, count in expired_audit_events(cutoff):
                self._add(RULE_AUDIT, chain_workspace(chain), {"audit.AuditEvent": count})
            return
        report = audit_purge_expired(self.now, batch_size=self.batch_size)
        for purged in report.chains:
            if purged.deleted:
                self._add(
                    RULE_AUDIT, chain_workspace(purged.chain), {"audit.AuditEvent": purged.deleted}
                )
            if purged.problem is not None:
                # The purge left that chain's expired events in place as evidence.
                self.tallies[RULE_AUDIT].errors += 1
                self.run.errors.append(
                    {
                        "rule": RULE_AUDIT,
                        "workspace": str(chain_workspace(purged.chain) or ""),
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
                self._add(RULE_TRASH, workspace.pk, cascade_counts(due))
                return
        while True:
            self._may_continue()
            deleted = purge_trash_batch(workspace, cutoff=cutoff, batch_size=self.batch_size)
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
                deleted = delete_messages_batch(
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
            moved = trash_inactive_batch(
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
