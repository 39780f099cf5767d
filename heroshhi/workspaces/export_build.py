"""Building a workspace export: what the zip holds (one CSV per table, the opt-out ledger,
the audit chain, a manifest) and the job that writes it, batch by batch, with progress."""

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
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import BlindIndexField
from heroshhi.core.crypto.files import EncryptedFileWriter
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.export import neutralise
from heroshhi.workspaces.export_files import (
    EXPORT_TTL,
    export_path,
    file_label,
    open_private,
    partial_path,
    remove_files,
)
from heroshhi.workspaces.models import Membership, Workspace, WorkspaceExport

logger = logging.getLogger(__name__)

BATCH = 500


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
        # Events still queued for the sequencer have no place in the chain yet.
        linked = AuditEvent.objects.filter(chain=str(workspace.pk), seq__isnull=False)
        with self._entry(AUDIT) as out:
            for batch in _keyset(linked, key="seq"):
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


# --- The job ---------------------------------------------------------------------------------


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
        remove_files(export)
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
    partial = partial_path(export)
    with (
        open_private(partial) as raw,
        EncryptedFileWriter(raw, workspace_id=workspace.pk, label=file_label(export)) as sealed,
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
