"""The owner's export of a whole workspace (P04, P19): a zip of CSV and JSON built by a job.

What goes in: leads (trashed ones too, with tags and one column per custom field),
conversations, messages, calls, notes, tasks, the opt-out ledger, consent records (once the
privacy app has them) and the workspace's audit events, plus a ``manifest.json`` with the
row counts. The ledger stores blind indexes, never numbers: it is exported as status,
method, trigger and time with the id of the lead it matches, never the index values.

How: ``workspace_export_start`` (here) records a queued export and enqueues its id; the
task runs ``export_build.workspace_export_run``, which claims it (a conditional UPDATE, so a
repeated delivery does nothing), streams every table in keyset batches into a zip on disk
(memory stays flat whatever the size) and saves progress per batch. The file
(``export_files``) is encrypted with the workspace's data key as it is written
(``core.crypto.files``), owner-readable only (0600), lives under
``VAR_DIR/exports/<workspace id>/`` and is deleted when it expires, 24 hours after it is
ready (the beat task ``workspace_exports_purge``); downloads decrypt it as they stream. The
download link carries a signed, expiring token naming the export, nothing about people, and
works only for an owner of the workspace signed in. Finishing and each download are
audited as ``data_export``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.core import signing
from django.db import models, transaction
from django.utils import timezone

from heroshhi.accounts.models import User
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.export_files import EXPORT_TTL, export_path
from heroshhi.workspaces.models import Workspace, WorkspaceExport
from heroshhi.workspaces.permissions import Capability
from heroshhi.workspaces.tasks import workspace_export_run

TOKEN_SALT = "heroshhi.workspaces.export.download"  # noqa: S105 (a namespace, not a secret)
ACTIVE = (WorkspaceExport.Status.QUEUED, WorkspaceExport.Status.RUNNING)


# --- Services ---------------------------------------------------------------------------------


@transaction.atomic
def workspace_export_start(
    *, workspace: Workspace, actor: Actor, requested_by: User | None
) -> WorkspaceExport:
    """Queue an export (owners only). While one is queued or running, that one is
    returned instead of starting another."""
    require_actor_capability(actor, Capability.WORKSPACE_EXPORT)
    with workspace_scope(workspace):
        # Locks the workspace's row so two clicks at once cannot both start a run.
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        running = WorkspaceExport.objects.filter(status__in=ACTIVE).order_by("-created_at").first()
        if running is not None:
            return running
        export = WorkspaceExport.objects.create(workspace=workspace, requested_by=requested_by)
    transaction.on_commit(lambda: workspace_export_run.delay(str(export.pk)))
    return export


def latest_export(*, workspace: Workspace) -> WorkspaceExport | None:
    with workspace_scope(workspace):
        return WorkspaceExport.objects.order_by("-created_at").first()


# --- Download links ---------------------------------------------------------------------------


def download_token(export: WorkspaceExport) -> str:
    """A signed token naming the export and when the link was made; it is good for 24
    hours at most, and never beyond the file's own expiry."""
    issued = int(timezone.now().timestamp())
    return signing.dumps({"e": str(export.pk), "t": issued}, salt=TOKEN_SALT, compress=False)


class ExportLinkInvalid(Exception):
    """Tampered, unknown, or another workspace's export: one error for all."""


class ExportLinkExpired(Exception):
    """A genuine link whose export has expired (or is not ready)."""


def export_for_token(
    *, workspace: Workspace, token: str, now: datetime | None = None
) -> WorkspaceExport:
    """The ready export a download token names, within the current workspace only."""
    now = now or timezone.now()
    try:
        payload = signing.loads(token, salt=TOKEN_SALT)
        uid = uuid.UUID(str(payload["e"]))
        issued = datetime.fromtimestamp(int(payload["t"]), tz=UTC)
    except (signing.BadSignature, TypeError, KeyError, ValueError):
        raise ExportLinkInvalid from None
    with workspace_scope(workspace):
        export = WorkspaceExport.objects.filter(pk=uid).first()
    if export is None:
        raise ExportLinkInvalid
    if now - issued > EXPORT_TTL:
        raise ExportLinkExpired
    ready = export.status == WorkspaceExport.Status.READY
    if not ready or export.expires_at is None or export.expires_at <= now:
        raise ExportLinkExpired
    if not export_path(export).is_file():
        raise ExportLinkExpired
    return export


@transaction.atomic
def export_download_record(*, workspace: Workspace, actor: Actor, export: WorkspaceExport) -> None:
    """Count and audit one download (owners only), before the file is streamed."""
    require_actor_capability(actor, Capability.WORKSPACE_EXPORT)
    with workspace_scope(workspace):
        WorkspaceExport.objects.filter(pk=export.pk).update(downloads=models.F("downloads") + 1)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.DATA_EXPORT,
            target=("workspace_export", str(export.pk)),
            metadata={"scope": "workspace", "step": "download"},
        )
