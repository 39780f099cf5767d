"""The owner's export of a whole workspace (P04, P19): a zip of CSV and JSON built by a job.

What goes in: leads (trashed ones too, with tags and one column per custom field),
conversations, messages, calls, notes, tasks, the opt-out ledger, consent records (once the
privacy app has them) and the workspace's audit events, plus a ``manifest.json`` with the
row counts. The ledger stores blind indexes, never numbers: it is exported as status,
method, trigger and time with the id of the lead it matches, never the index values.

How: ``workspace_export_start`` records a queued export and enqueues its id;
``workspace_export_run`` claims it (a conditional UPDATE, so a repeated delivery does
nothing), streams every table in keyset batches into a zip on disk (memory stays flat
whatever the size) and saves progress per batch. The file is encrypted with the
workspace's data key as it is written (``core.crypto.files``), owner-readable only (0600),
lives under ``VAR_DIR/exports/<workspace id>/`` and is deleted when it expires, 24 hours
after it is ready (``workspace_exports_purge``); downloads decrypt it as they stream. The
download link carries a signed, expiring token naming the export, nothing about people, and
works only for an owner of the workspace signed in. Finishing and each download are
audited as ``data_export``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from django.apps import apps
from django.conf import settings
from django.core import signing
from django.db import models, transaction
from django.utils import timezone

from heroshhi.accounts.models import User
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import BlindIndexField
from heroshhi.core.crypto.files import EncryptedFileWriter, decrypted_chunks
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.export import neutralise
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.models import Membership, Workspace, WorkspaceExport
from heroshhi.workspaces.permissions import Capability

logger = logging.getLogger(__name__)

EXPORT_TTL = timedelta(hours=24)
BATCH = 500
TOKEN_SALT = "heroshhi.workspaces.export.download"  # noqa: S105 (a namespace, not a secret)
# A queued export whose task never arrived is re-queued; a run that stopped saving
# progress (a killed worker) is failed, so nothing shows "preparing" for ever.
QUEUED_STALE_AFTER = timedelta(minutes=5)
RUNNING_STALE_AFTER = timedelta(minutes=30)
ACTIVE = (WorkspaceExport.Status.QUEUED, WorkspaceExport.Status.RUNNING)


# --- Files ------------------------------------------------------------------------------------


def workspace_exports_dir(workspace: Workspace | uuid.UUID) -> Path:
    workspace_id = workspace if isinstance(workspace, uuid.UUID) else workspace.pk
    return Path(settings.VAR_DIR) / "exports" / str(workspace_id)


def export_path(export: WorkspaceExport) -> Path:
    """Derived from the ids only, so no stored value can point a download elsewhere."""
    return workspace_exports_dir(export.workspace_id) / f"{export.pk}.zip"


def _partial_path(export: WorkspaceExport) -> Path:
    return export_path(export).with_suffix(".zip.part")


def _open_private(path: Path) -> BinaryIO:
    """A new file only its owner can read (0600) in a folder only its owner can enter."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a leftover of an interrupted run
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(descriptor, "wb")


def _file_label(export: WorkspaceExport) -> str:
    return f"workspace_export:{export.pk}"


def export_chunks(export: WorkspaceExport) -> Iterator[bytes]:
    """The zip, decrypted as it is read (the file on disk is encrypted with the workspace's
    data key, chunk by chunk)."""
    with export_path(export).open("rb") as raw:
        yield from decrypted_chunks(
            raw, workspace_id=export.workspace_id, label=_file_label(export)
        )


def _remove_files(export: WorkspaceExport) -> None:
    export_path(export).unlink(missing_ok=True)
    _partial_path(export).unlink(missing_ok=True)


# --- Cells ------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date | Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return str(value)


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str | dict | list):
        return value
    return _cell(value)


def exported_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    """Every stored column except the workspace (implied) and blind indexes (keyed
    hashes, meaningless outside this installation)."""
    return [
        f
        for f in model._meta.concrete_fields
        if f.name != "workspace" and not isinstance(f, BlindIndexField)
    ]


# --- Tables -----------------------------------------------------------------------------------


ExtraColumns = Callable[[Workspace], tuple[list[str], Callable[[list[Any]], list[list[str]]]]]


@dataclass(slots=True)
class Table:
    """One file of the zip: a model's rows, written in primary-key order."""

    filename: str
    model_label: str
    # Columns after the model's own: their headers, and their cells for a batch of rows.
    extras: ExtraColumns | None = None
    optional: bool = False

    def model(self) -> type[models.Model] | None:
        try:
            return apps.get_model(self.model_label)
        except LookupError:
            if self.optional:  # a table another part of the product has not added yet
                return None
            raise


def _lead_extras(
    workspace: Workspace,
) -> tuple[list[str], Callable[[list[Any]], list[list[str]]]]:
    """Tags by name, and one column per custom field (archived ones too) by its key."""
    from heroshhi.leads.models import CustomField, Lead, Tag

    with workspace_scope(workspace):
        keys = list(
            CustomField.objects.order_by("position", "created_at", "id").values_list(
                "key", flat=True
            )
        )
        tag_names = dict(Tag.objects.values_list("pk", "name"))

    def cells(leads: list[Any]) -> list[list[str]]:
        links = Lead.tags.through.objects.filter(lead_id__in=[lead.pk for lead in leads])
        tags: dict[uuid.UUID, list[str]] = {}
        for lead_id, tag_id in links.values_list("lead_id", "tag_id"):
            tags.setdefault(lead_id, []).append(tag_names.get(tag_id, ""))
        rows = []
        for lead in leads:
            values = lead.custom_values or {}
            rows.append(
                [", ".join(sorted(tags.get(lead.pk, ()))), *(_cell(values.get(k)) for k in keys)]
            )
        return rows

    return ["tags", *(f"custom:{key}" for key in keys)], cells


TABLES: tuple[Table, ...] = (
    Table("leads.csv", "leads.Lead", extras=_lead_extras),
    Table("conversations.csv", "messaging.Conversation"),
    Table("messages.csv", "messaging.Message"),
    Table("calls.csv", "messaging.Call"),
    Table("notes.csv", "leads.Note"),
    Table("tasks.csv", "leads.Task"),
    Table("consent.csv", "privacy.ConsentRecord", optional=True),
)
OPT_OUTS = "opt_outs.csv"
OPT_OUT_COLUMNS = (
    "id",
    "created_at",
    "status",
    "method",
    "trigger",
    "channel_id",
    "actor_type",
    "actor_id",
    "lead_id",
)
AUDIT = "audit_events.jsonl"
MANIFEST = "manifest.json"


def _keyset(rows: models.QuerySet[Any], *, key: str = "pk") -> Iterator[list[Any]]:
    last: object = None
    while True:
        page = rows if last is None else rows.filter(**{f"{key}__gt": last})
        batch = list(page.order_by(key)[:BATCH])
        if not batch:
            return
        yield batch
        last = getattr(batch[-1], key)
        if len(batch) < BATCH:
            return


class _Writer:
    """Writes the zip and reports progress after every batch."""

    def __init__(self, archive: zipfile.ZipFile, progress: Callable[[int], None]) -> None:
        self.archive = archive
        self.progress = progress
        self.counts: dict[str, int] = {}

    def _entry(self, name: str) -> io.TextIOWrapper:
        raw = self.archive.open(name, "w", force_zip64=True)
        return io.TextIOWrapper(raw, encoding="utf-8", newline="")

    def table(self, workspace: Workspace, table: Table) -> None:
        model = table.model()
        if model is None:
            return
        fields = exported_fields(model)
        headers, more_cells = table.extras(workspace) if table.extras else ([], None)
        written = 0
        with self._entry(table.filename) as out:
            writer = csv.writer(out)
            writer.writerow([f.attname for f in fields] + headers)
            for batch in self._batches(workspace, model):
                extras = more_cells(batch) if more_cells else [[] for _ in batch]
                for row, more in zip(batch, extras, strict=True):
                    cells = [_cell(getattr(row, f.attname)) for f in fields] + more
                    writer.writerow([neutralise(cell) for cell in cells])
                written += len(batch)
                self.progress(len(batch))
        self.counts[table.filename] = written

    @staticmethod
    def _batches(workspace: Workspace, model: type[models.Model]) -> Iterator[list[Any]]:
        # The scoped manager filters when the queryset is made; the pages refine it.
        with workspace_scope(workspace):
            rows = model.objects.all()  # type: ignore[attr-defined]
        yield from _keyset(rows)

    def opt_outs(self, workspace: Workspace) -> None:
        """The ledger with the lead each record matches (by phone, else by WhatsApp user
        id), looked up per batch; the blind indexes themselves are not written."""
        from heroshhi.leads.models import Lead
        from heroshhi.messaging.models import Conversation, OptOutRecord

        written = 0
        with self._entry(OPT_OUTS) as out:
            writer = csv.writer(out)
            writer.writerow(OPT_OUT_COLUMNS)
            for batch in self._batches(workspace, OptOutRecord):
                phones = {r.phone_bidx for r in batch if r.phone_bidx}
                users = {r.wa_user_bidx for r in batch if r.wa_user_bidx}
                with workspace_scope(workspace):
                    by_phone = dict(
                        Lead.objects.filter(phone_bidx__in=phones)
                        .order_by("created_at")
                        .values_list("phone_bidx", "pk")
                    )
                    by_user = dict(
                        Conversation.objects.filter(wa_user_bidx__in=users)
                        .order_by("created_at")
                        .values_list("wa_user_bidx", "lead_id")
                    )
                for record in batch:
                    lead = by_phone.get(record.phone_bidx) or by_user.get(record.wa_user_bidx)
                    cells = [
                        record.pk,
                        record.created_at,
                        record.status,
                        record.method,
                        record.trigger,
                        record.channel_id_ref,
                        record.actor_type,
                        record.actor_id,
                        lead,
                    ]
                    writer.writerow([neutralise(_cell(cell)) for cell in cells])
                written += len(batch)
                self.progress(len(batch))
        self.counts[OPT_OUTS] = written

    def audit(self, workspace: Workspace) -> None:
        """The workspace's chain, one JSON object per line, MACs included so a copy can be
        checked against the chain while it lasts."""
        fields = exported_fields(AuditEvent)
        written = 0
        with self._entry(AUDIT) as out:
            for batch in _keyset(AuditEvent.objects.filter(chain=str(workspace.pk)), key="seq"):
                for event in batch:
                    line = {f.attname: _json_value(getattr(event, f.attname)) for f in fields}
                    out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                written += len(batch)
                self.progress(len(batch))
        self.counts[AUDIT] = written

    def manifest(self, workspace: Workspace, export: WorkspaceExport) -> None:
        manifest = {
            "format": 1,
            "export_id": str(export.pk),
            "workspace_id": str(workspace.pk),
            "generated_at": timezone.now().astimezone(UTC).isoformat(),
            "files": self.counts,
            "notes": {
                OPT_OUTS: "Opt-out ledger: blind indexes are not exported; lead_id is the "
                "lead the record matches today, when there is one.",
                AUDIT: "The workspace's audit chain, oldest first (one JSON object per line).",
                "csv": "Cells starting with = + - @ are prefixed with an apostrophe.",
            },
        }
        with self._entry(MANIFEST) as out:
            out.write(json.dumps(manifest, indent=2, sort_keys=True))


def _rows_total(workspace: Workspace) -> int:
    from heroshhi.messaging.models import OptOutRecord

    total = AuditEvent.objects.filter(chain=str(workspace.pk)).count()
    with workspace_scope(workspace):
        for table in TABLES:
            model = table.model()
            if model is not None:
                total += model.objects.count()  # type: ignore[attr-defined]
        total += OptOutRecord.objects.count()
    return total


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
    _enqueue_on_commit(export.pk)
    return export


def _enqueue_on_commit(export_id: uuid.UUID) -> None:
    from heroshhi.workspaces.tasks import workspace_export_run as task

    transaction.on_commit(lambda: task.delay(str(export_id)))


def _requester_actor(workspace: Workspace, export: WorkspaceExport) -> Actor:
    # Called inside the workspace's scope.
    membership = Membership.objects.filter(user_id=export.requested_by_id).first()
    if membership is None:
        return Actor.system()
    return Actor.user(membership.user_id, role=membership.role)


def workspace_export_run(export_id: object) -> str:
    """Build one queued export; a second call (or a second worker) does nothing."""
    workspace_id = (
        # A job knows only the export id: the one unscoped lookup, to find its workspace.
        WorkspaceExport.objects.unscoped()
        .filter(pk=export_id)
        .values_list("workspace_id", flat=True)
        .first()
    )
    if workspace_id is None:
        return "missing"
    workspace = Workspace.objects.get(pk=workspace_id)
    now = timezone.now()
    with workspace_scope(workspace):
        claimed = WorkspaceExport.objects.filter(
            pk=export_id, status=WorkspaceExport.Status.QUEUED
        ).update(status=WorkspaceExport.Status.RUNNING, started_at=now, progress_at=now)
        if claimed != 1:
            return "skipped"
        export = WorkspaceExport.objects.get(pk=export_id)
    try:
        _build(workspace, export)
    except Exception:
        logger.exception("workspace export failed", extra={"export_id": str(export_id)})
        _remove_files(export)
        with workspace_scope(workspace):
            WorkspaceExport.objects.filter(pk=export.pk).update(
                status=WorkspaceExport.Status.FAILED, finished_at=timezone.now()
            )
        return "failed"
    return "ready"


def _build(workspace: Workspace, export: WorkspaceExport) -> None:
    total = _rows_total(workspace)
    done = 0

    def progress(rows: int) -> None:
        nonlocal done
        done += rows
        with workspace_scope(workspace):
            WorkspaceExport.objects.filter(pk=export.pk).update(
                rows_done=done, rows_total=max(total, done), progress_at=timezone.now()
            )

    with workspace_scope(workspace):
        WorkspaceExport.objects.filter(pk=export.pk).update(rows_total=total)
    partial = _partial_path(export)
    with (
        _open_private(partial) as raw,
        EncryptedFileWriter(raw, workspace_id=workspace.pk, label=_file_label(export)) as sealed,
        zipfile.ZipFile(sealed, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        writer = _Writer(archive, progress)
        for table in TABLES:
            writer.table(workspace, table)
        writer.opt_outs(workspace)
        writer.audit(workspace)
        writer.manifest(workspace, export)
    os.replace(partial, export_path(export))
    _finish(workspace, export, counts=writer.counts, size=sealed.plaintext_bytes)


@transaction.atomic
def _finish(
    workspace: Workspace, export: WorkspaceExport, *, counts: dict[str, int], size: int
) -> None:
    now = timezone.now()
    with workspace_scope(workspace):
        WorkspaceExport.objects.filter(pk=export.pk).update(
            status=WorkspaceExport.Status.READY,
            counts=counts,
            size_bytes=size,
            finished_at=now,
            progress_at=now,
            expires_at=now + EXPORT_TTL,
        )
        audit_record(
            workspace=workspace,
            actor=_requester_actor(workspace, export),
            action=AuditAction.DATA_EXPORT,
            target=("workspace_export", str(export.pk)),
            metadata={"scope": "workspace", "rows": counts},
        )


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


# --- Housekeeping (beat) ----------------------------------------------------------------------


def workspace_exports_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete expired export files, fail runs that stopped, re-queue lost ones.

    A platform job, hence the reviewed ``unscoped()`` reads; each change is one row's.
    """
    now = now or timezone.now()
    exports = WorkspaceExport.objects.unscoped()
    expired = list(exports.filter(status=WorkspaceExport.Status.READY, expires_at__lte=now))
    for export in expired:
        _remove_files(export)
        exports.filter(pk=export.pk, status=WorkspaceExport.Status.READY).update(
            status=WorkspaceExport.Status.EXPIRED
        )
    stalled = list(
        exports.filter(
            status=WorkspaceExport.Status.RUNNING, progress_at__lt=now - RUNNING_STALE_AFTER
        )
    )
    for export in stalled:
        _remove_files(export)
        exports.filter(pk=export.pk, status=WorkspaceExport.Status.RUNNING).update(
            status=WorkspaceExport.Status.FAILED, finished_at=now
        )
    lost = list(
        exports.filter(
            status=WorkspaceExport.Status.QUEUED, created_at__lt=now - QUEUED_STALE_AFTER
        ).values_list("pk", flat=True)
    )
    from heroshhi.workspaces.tasks import workspace_export_run as task

    for export_id in lost:
        task.delay(str(export_id))
    return {"expired": len(expired), "failed": len(stalled), "requeued": len(lost)}
