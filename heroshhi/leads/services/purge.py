"""The end of the trash: leads trashed 30 days ago are deleted for good (P14)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import TRASH_RETENTION_DAYS, Lead
from heroshhi.workspaces.models import Workspace

PURGE_BATCH = 500


def leads_purge_trashed(*, now: datetime | None = None) -> int:
    """Hard-delete leads trashed more than 30 days ago, in every workspace (P14)."""
    cutoff = (now or timezone.now()) - timedelta(days=TRASH_RETENTION_DAYS)
    deleted = 0
    for workspace in _workspaces_with_expired_trash(cutoff=cutoff):
        while batch := _purge_batch(workspace=workspace, cutoff=cutoff):
            deleted += batch
    return deleted


def _workspaces_with_expired_trash(*, cutoff: datetime) -> list[Workspace]:
    """The one cross-workspace read of leads: which workspaces have trash to purge."""
    ids = (
        Lead.objects.unscoped()
        .filter(deleted_at__lt=cutoff)
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    return list(Workspace.objects.filter(pk__in=list(ids)))


@transaction.atomic
def _purge_batch(*, workspace: Workspace, cutoff: datetime) -> int:
    with workspace_scope(workspace):
        ids = list(
            Lead.objects.filter(deleted_at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            return 0
        # Notes, timeline, name tokens and tag links go with the leads (FK cascade).
        _total, per_model = Lead.objects.filter(pk__in=ids).delete()
        count = per_model.get(Lead._meta.label, 0)
        audit_record(
            workspace=workspace,
            actor=Actor.system(),
            action=AuditAction.DATA_DELETE,
            reason="retention",
            metadata={"entity": "lead", "count": count},
        )
    return count
