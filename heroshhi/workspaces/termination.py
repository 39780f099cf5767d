"""Terminating a workspace (P17): request, 30 days of grace, then deletion and crypto-shredding.

1. The owner asks (``workspace_termination_request``; the view re-authenticates them first).
   From that moment the workspace is ``terminating``: it sends nothing (the send path and
   the delivery task refuse ``workspace_suspended``), its API keys are refused (403
   ``workspace_terminating``), and its members can still sign in to read, export the
   workspace and, for owners, cancel; any other change through the pages is refused as
   read-only (``WorkspaceMiddleware``), except what is owed to contacts: data-subject
   requests, incidents and opt-outs. Inbound webhooks are still verified and stored, so
   an opt-out a contact sends during the grace period is not lost.
2. Within 30 days an owner may cancel (``workspace_termination_cancel``): the workspace is
   active again, keys and sending work as before.
3. Afterwards the retention engine calls ``terminations_due`` and, for each workspace,
   ``workspace_delete_terminated``: every tenant row is deleted except the opt-out ledger,
   then the workspace's keys are destroyed, so any ciphertext of it that survives anywhere
   (a backup, a replica, a leaked export of raw rows) can no longer be decrypted. The
   ``Workspace`` row stays as a tombstone with a neutral name, because the ledger and the
   audit events (purged after their 365 days) refer to it; it is never deleted, which
   would also cascade into the append-only ledger.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import WorkspaceOwned
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.errors import WorkspaceConflict
from heroshhi.workspaces.export_files import workspace_exports_dir
from heroshhi.workspaces.keys import workspace_keys_destroy
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability

logger = logging.getLogger(__name__)

GRACE_PERIOD = timedelta(days=30)
DELETE_BATCH = 500
# Tenant tables that outlive a terminated workspace. The opt-out ledger holds blind
# indexes only and must be kept indefinitely (P18); its table refuses DELETE anyway.
KEPT_AFTER_TERMINATION = frozenset({"messaging.OptOutRecord"})
TOMBSTONE_NAME = "Terminated workspace"


class TerminationError(WorkspaceConflict):
    """A termination step that does not fit the workspace's state."""

    code = "termination_conflict"
    message = _("That does not fit the workspace's current state.")


class AlreadyTerminating(TerminationError):
    code = "already_terminating"
    message = _("This workspace is already being terminated.")


class NotActive(TerminationError):
    code = "workspace_not_active"
    message = _("Only an active workspace can be terminated.")


class NotTerminating(TerminationError):
    code = "not_terminating"
    message = _("This workspace is not being terminated.")


class GraceOver(TerminationError):
    code = "grace_period_over"
    message = _("The 30 days are over: the termination can no longer be cancelled.")


class NotDue(TerminationError):
    code = "termination_not_due"
    message = _("The 30-day grace period of this workspace has not ended yet.")


def deletion_due_at(workspace: Workspace) -> datetime | None:
    """When a terminating workspace's data will be deleted."""
    if workspace.termination_requested_at is None:
        return None
    return workspace.termination_requested_at + GRACE_PERIOD


def _record_on_both_chains(
    *, workspace: Workspace, actor: Actor, action: AuditAction, metadata: dict[str, object]
) -> None:
    # The owner reads the workspace chain; operators review the platform one. Workspace
    # chain first, as platform_admin/services.py explains (lock order).
    for chain in (workspace, None):
        audit_record(
            workspace=chain,
            actor=actor,
            action=action,
            target=("workspace", str(workspace.pk)),
            metadata=metadata,
        )


@transaction.atomic
def workspace_termination_request(
    *, workspace: Workspace, actor: Actor, now: datetime | None = None
) -> Workspace:
    """Start the 30-day grace period. Owners only; the caller re-authenticated them.

    Raises ``AlreadyTerminating`` when asked twice and ``NotActive`` for a suspended
    (or already terminated) workspace.
    """
    require_actor_capability(actor, Capability.WORKSPACE_TERMINATE)
    now = now or timezone.now()
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if locked.status == Workspace.Status.TERMINATING:
        raise AlreadyTerminating
    if locked.status != Workspace.Status.ACTIVE:
        raise NotActive
    locked.status = Workspace.Status.TERMINATING
    locked.termination_requested_at = now
    locked.save(update_fields=["status", "termination_requested_at"])
    _record_on_both_chains(
        workspace=locked,
        actor=actor,
        action=AuditAction.WORKSPACE_TERMINATED,
        metadata={"deletion_due_at": (now + GRACE_PERIOD).isoformat()},
    )
    workspace.status = locked.status
    workspace.termination_requested_at = now
    return locked


@transaction.atomic
def workspace_termination_cancel(
    *, workspace: Workspace, actor: Actor, now: datetime | None = None
) -> Workspace:
    """Make a terminating workspace active again, within its grace period (owners only)."""
    require_actor_capability(actor, Capability.WORKSPACE_TERMINATE)
    now = now or timezone.now()
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if locked.status != Workspace.Status.TERMINATING:
        raise NotTerminating
    due = deletion_due_at(locked)
    if due is not None and now >= due:
        raise GraceOver
    locked.status = Workspace.Status.ACTIVE
    locked.termination_requested_at = None
    locked.save(update_fields=["status", "termination_requested_at"])
    _record_on_both_chains(
        workspace=locked,
        actor=actor,
        action=AuditAction.WORKSPACE_REACTIVATED,
        metadata={"reason": "termination_cancelled"},
    )
    workspace.status = locked.status
    workspace.termination_requested_at = None
    return locked


# --- Deletion (called by the retention engine) ---------------------------------------------


def terminations_due(*, now: datetime | None = None) -> list[Workspace]:
    """Terminating workspaces whose 30 days are over, oldest request first.

    A platform job: the one reviewed cross-workspace read of terminations.
    """
    now = now or timezone.now()
    return list(
        Workspace.objects.filter(
            status=Workspace.Status.TERMINATING,
            termination_requested_at__lte=now - GRACE_PERIOD,
        ).order_by("termination_requested_at", "pk")
    )


def _tenant_models() -> list[type[WorkspaceOwned]]:
    return [
        model
        for model in apps.get_models()
        if issubclass(model, WorkspaceOwned) and model._meta.label not in KEPT_AFTER_TERMINATION
    ]


def deletion_order(models_: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """Children before parents: a model comes before every model its foreign keys point
    at, so no delete has to cascade (or trip a PROTECT) across tables."""
    pending = {model._meta.label: model for model in models_}
    parents = {
        label: {
            field.related_model._meta.label
            for field in model._meta.concrete_fields
            if field.is_relation
            and field.related_model is not None
            and field.related_model is not model
            and field.related_model._meta.label in pending
        }
        for label, model in pending.items()
    }
    order: list[type[models.Model]] = []
    while pending:
        referenced = {parent for label in pending for parent in parents[label]}
        leaves = sorted(label for label in pending if label not in referenced)
        # A cycle (none exists today) falls back to the collector's own cascade.
        for label in leaves or [sorted(pending)[0]]:
            order.append(pending.pop(label))
    return order


def _delete_rows(workspace: Workspace, *, batch_size: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for model in deletion_order(_tenant_models()):
        # A platform job on one workspace's rows, hence the reviewed bypass of the scope.
        rows = model.objects.unscoped().filter(workspace_id=workspace.pk)  # type: ignore[attr-defined]
        while True:
            batch = list(rows.values_list("pk", flat=True)[:batch_size])
            if not batch:
                break
            # One transaction per batch: an interrupted run keeps what it deleted and the
            # next run carries on from there.
            with transaction.atomic():
                _, per_model = model._base_manager.filter(pk__in=batch).delete()
            for label, deleted in per_model.items():
                if deleted:
                    counts[label] = counts.get(label, 0) + deleted
    return counts


def _export_files_delete(workspace: Workspace) -> None:
    shutil.rmtree(workspace_exports_dir(workspace), ignore_errors=True)


def workspace_delete_terminated(
    *, workspace: Workspace, now: datetime | None = None, batch_size: int = DELETE_BATCH
) -> dict[str, int]:
    """Delete every row of a workspace whose grace period is over, then its keys.

    Returns the rows deleted by this call per model label (``{"leads.Lead": 120, ...}``).
    Idempotent and resumable: a call on a workspace already deleted returns ``{}``, and a
    call after an interrupted one deletes what is left. Raises ``NotTerminating`` for a
    workspace that is not being terminated and ``NotDue`` before its 30 days are over.
    """
    current = Workspace.objects.get(pk=workspace.pk)
    if current.status == Workspace.Status.TERMINATED:
        return {}
    if current.status != Workspace.Status.TERMINATING:
        raise NotTerminating
    due = deletion_due_at(current)
    if due is None or (now or timezone.now()) < due:
        raise NotDue
    _export_files_delete(current)
    counts = _delete_rows(current, batch_size=batch_size)
    system = Actor.system()
    with transaction.atomic():
        locked = Workspace.objects.select_for_update().get(pk=current.pk)
        if locked.status == Workspace.Status.TERMINATED:  # a concurrent run finished first
            return counts
        keys = workspace_keys_destroy(workspace=locked, actor=system)
        metadata: dict[str, object] = {"rows": counts, "keys_destroyed": keys}
        _record_on_both_chains(
            workspace=locked, actor=system, action=AuditAction.DATA_DELETE, metadata=metadata
        )
        # The name and address were the business's; the tombstone keeps neither.
        locked.status = Workspace.Status.TERMINATED
        locked.name = TOMBSTONE_NAME
        locked.slug = f"terminated-{secrets.token_hex(8)}"
        locked.require_two_factor = False
        locked.terminated_at = timezone.now()
        locked.save(update_fields=["status", "name", "slug", "require_two_factor", "terminated_at"])
    logger.info(
        "terminated workspace deleted",
        extra={"workspace_id": str(current.pk), "rows": sum(counts.values()), "keys": keys},
    )
    workspace.status = Workspace.Status.TERMINATED
    return counts
