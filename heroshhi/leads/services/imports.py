"""CSV import of leads, the writes: store the upload, start the run, run it in batches with a
report per row, sweep stuck runs, and save a mapping for later files.

The uploaded file and the error report are stored encrypted on ``LeadImport``. Logs, task
arguments and audit metadata carry ids and counts only; the error report names the row
number, the column and the problem, and repeats the original row only inside the
downloadable report (which the importer already has).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.instants import past_instant_problem
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import custom_fields
from heroshhi.leads.export import BOM, neutralise
from heroshhi.leads.importing import (
    CUSTOM_TARGET,
    FIELDS,
    MAPPING_NAME_MAX,
    REPORT_COLUMNS,
    SAVED_MAPPINGS_MAX,
    RowError,
    clean_mapping,
    header_signature,
    headers_of,
    parse,
    read_upload,
    row_item,
    targets_for,
)
from heroshhi.leads.models import ImportMapping, LeadImport, Stage
from heroshhi.leads.services.batch import IMPORT_BATCH_MAX, ItemStatus, LeadItem, leads_create_many
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.privacy.consent import CONSENT_MAX_AGE_DAYS, consents_grant_many
from heroshhi.privacy.models import ConsentRecord
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

logger = logging.getLogger(__name__)
# Rows per transaction and per progress update; the batch service takes at most this many.
BATCH_SIZE = IMPORT_BATCH_MAX


def lead_import_create(
    *, workspace: Workspace, actor: Actor, member: Membership, upload: Any
) -> LeadImport:
    require_capability(actor.role or "", Capability.LEADS_IMPORT)
    text = read_upload(upload)
    parsed = parse(text)
    with workspace_scope(workspace):
        return LeadImport.objects.create(
            workspace=workspace,
            created_by=member,
            content=text,
            headers=json.dumps(parsed.headers, ensure_ascii=False),
            total=len(parsed.rows),
        )


@transaction.atomic
def lead_import_start(
    *, workspace: Workspace, actor: Actor, lead_import: LeadImport, mapping: Mapping[str, str]
) -> bool:
    """Save the mapping and queue the run, once; False when it was already started."""
    require_capability(actor.role or "", Capability.LEADS_IMPORT)
    cleaned = clean_mapping(
        mapping, columns=len(headers_of(lead_import)), targets=targets_for(workspace)
    )
    with workspace_scope(workspace):
        claimed = LeadImport.objects.filter(
            pk=lead_import.pk, status=LeadImport.Status.UPLOADED
        ).update(status=LeadImport.Status.MAPPED, mapping=cleaned, progress_at=timezone.now())
    if claimed != 1:
        return False
    from heroshhi.leads.tasks import lead_import_run as task  # the task module imports this one

    import_id = str(lead_import.pk)
    transaction.on_commit(lambda: task.delay(import_id))
    return True


def lead_import_run(import_id: Any) -> str:
    """Run one mapped import; a second call (or a second worker) does nothing."""
    workspace_id = (
        LeadImport.objects.unscoped().filter(pk=import_id).values_list("workspace_id", flat=True)
    ).first()
    if workspace_id is None:
        return "missing"
    with workspace_scope(workspace_id):
        now = timezone.now()
        claimed = LeadImport.objects.filter(pk=import_id, status=LeadImport.Status.MAPPED).update(
            status=LeadImport.Status.RUNNING, started_at=now, progress_at=now
        )
        if claimed != 1:
            return "skipped"
        lead_import = LeadImport.objects.select_related("created_by", "workspace").get(pk=import_id)
        try:
            _run(lead_import)
        except Exception:
            logger.exception("lead import failed", extra={"import_id": str(import_id)})
            LeadImport.objects.filter(pk=import_id).update(
                status=LeadImport.Status.FAILED, finished_at=timezone.now()
            )
            return "failed"
    return "done"


def _run(lead_import: LeadImport) -> None:
    workspace = lead_import.workspace
    member = lead_import.created_by
    if member is None:
        raise PermissionDenied("leads.import.no_member")
    actor = Actor.user(member.user_id, role=member.role)
    require_capability(member.role, Capability.LEADS_IMPORT)
    parsed = parse(lead_import.content)
    headers = parsed.headers
    mapping = {int(index): field for index, field in lead_import.mapping.items()}
    column_of = {field: headers[index] or str(index + 1) for index, field in mapping.items()}
    # Service errors name a custom value "custom_fields.<key>"; the report names its column.
    column_of |= {
        custom_fields.error_key(field.removeprefix(CUSTOM_TARGET)): column
        for field, column in column_of.items()
        if field.startswith(CUSTOM_TARGET)
    }
    stages = {stage.name.casefold(): stage for stage in stages_ensure_defaults(workspace=workspace)}
    report: list[list[str]] = []
    counts = {"created": 0, "updated": 0, "failed": 0}
    for start in range(0, len(parsed.rows), BATCH_SIZE):
        chunk = parsed.rows[start : start + BATCH_SIZE]
        with transaction.atomic():
            outcomes = _import_chunk(
                workspace=workspace,
                actor=actor,
                rows=chunk,
                width=len(headers),
                mapping=mapping,
                stages=stages,
            )
            for (number, cells), outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, bool):
                    counts["created" if outcome else "updated"] += 1
                    continue
                counts["failed"] += 1
                original = _as_csv_line(cells)
                for field, problem in outcome:
                    column = column_of.get(field, "") if field else ""
                    if not column and field.startswith(custom_fields.ERROR_PREFIX):
                        # A required custom field with no column: name its key.
                        column = field.removeprefix(custom_fields.ERROR_PREFIX)
                    report.append([str(number), column, problem, original])
            LeadImport.objects.filter(pk=lead_import.pk).update(
                **counts, progress_at=timezone.now()
            )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_COLUMNS)
    writer.writerows([neutralise(cell) for cell in line] for line in report)
    with transaction.atomic():
        lead_import.refresh_from_db()
        lead_import.error_report = BOM + buffer.getvalue() if report else None
        lead_import.status = LeadImport.Status.DONE
        lead_import.finished_at = timezone.now()
        lead_import.total = len(parsed.rows)
        lead_import.save(update_fields=["error_report", "status", "finished_at", "total"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.DATA_IMPORT,
            target=("lead_import", lead_import.pk),
            metadata={"entity": "lead", "format": "csv", "total": len(parsed.rows), **counts},
        )
    logger.info(
        "lead import finished",
        extra={"import_id": str(lead_import.pk), **{f"rows_{k}": v for k, v in counts.items()}},
    )


def _as_csv_line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def _import_chunk(
    *,
    workspace: Workspace,
    actor: Actor,
    rows: list[tuple[int, list[str]]],
    width: int,
    mapping: dict[int, str],
    stages: dict[str, Stage],
) -> list[bool | list[tuple[str, str]]]:
    """One outcome per row, in order: True created, False merged into an existing lead,
    or the row's problems as (field, message). The rows that pass the file checks go
    through the batch service together."""
    outcomes: list[bool | list[tuple[str, str]]] = []
    items: list[tuple[int, LeadItem]] = []
    consents: dict[int, datetime | None] = {}
    for position, (_number, cells) in enumerate(rows):
        try:
            item, consent = row_item(cells=cells, width=width, mapping=mapping, stages=stages)
        except RowError as exc:
            outcomes.append(exc.problems)
            continue
        dated = consent.given_at if consent is not None else None
        problem = past_instant_problem(dated, max_age_days=CONSENT_MAX_AGE_DAYS) if dated else None
        if problem:
            outcomes.append([("consent_date", problem)])
            continue
        items.append((position, item))
        if consent is not None:
            consents[position] = dated
        outcomes.append(True)  # replaced by the batch result below
    if not items:
        return outcomes
    results = leads_create_many(
        workspace=workspace,
        actor=actor,
        items=[item for _position, item in items],
        limit=BATCH_SIZE,
    )
    for (position, _item), result in zip(items, results, strict=True):
        if result.status == ItemStatus.ERROR:
            outcomes[position] = [
                (
                    field
                    if field in FIELDS or field.startswith(custom_fields.ERROR_PREFIX)
                    else "",
                    str(message),
                )
                for field, messages in result.errors.items()
                for message in messages
            ]
        else:
            outcomes[position] = result.status == ItemStatus.CREATED
    grants = [
        (result.lead, consents[position])
        for (position, _item), result in zip(items, results, strict=True)
        if result.lead is not None and position in consents
    ]
    if grants:
        consents_grant_many(
            workspace=workspace, actor=actor, grants=grants, source=ConsentRecord.Source.IMPORT
        )
    return outcomes


QUEUED_STALE_AFTER = timedelta(minutes=2)
RUNNING_STALE_AFTER = timedelta(minutes=15)


def lead_imports_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Re-queue imports whose task message never arrived, and fail runs that stopped
    saving progress (a killed worker), so nothing waits forever. Re-running a failed file
    is safe: rows already imported deduplicate onto their leads.

    The one reviewed cross-workspace read of imports (a platform job)."""
    now = now or timezone.now()
    from heroshhi.leads.tasks import lead_import_run as task  # the task module imports this one

    stale_queued = list(
        LeadImport.objects.unscoped()
        .filter(status=LeadImport.Status.MAPPED, progress_at__lt=now - QUEUED_STALE_AFTER)
        .values_list("pk", flat=True)
    )
    for import_id in stale_queued:
        task.delay(str(import_id))
    failed = (
        LeadImport.objects.unscoped()
        .filter(status=LeadImport.Status.RUNNING, progress_at__lt=now - RUNNING_STALE_AFTER)
        .update(status=LeadImport.Status.FAILED, finished_at=now)
    )
    return {"requeued": len(stale_queued), "failed": failed}


@transaction.atomic
def import_mapping_save(
    *,
    workspace: Workspace,
    actor: Actor,
    member: Membership | None,
    lead_import: LeadImport,
    name: str,
    mapping: Mapping[str, str],
) -> ImportMapping:
    """Save the mapping chosen for this upload under a name, by heading, for later files.
    A mapping with the same name (case ignored) is replaced; the oldest beyond the newest
    SAVED_MAPPINGS_MAX go."""
    require_capability(actor.role or "", Capability.LEADS_IMPORT)
    label = " ".join(name.split()) if isinstance(name, str) else ""
    if not label:
        raise ValidationError({"save_as": [_("Give the mapping a name.")]})
    if len(label) > MAPPING_NAME_MAX:
        raise ValidationError(
            {"save_as": [_("Use at most %(max)d characters.") % {"max": MAPPING_NAME_MAX}]}
        )
    headers = headers_of(lead_import)
    cleaned = clean_mapping(mapping, columns=len(headers), targets=targets_for(workspace))
    document = {
        "headers": headers,
        "targets": {headers[int(index)]: target for index, target in cleaned.items()},
    }
    with workspace_scope(workspace):
        # Names are encrypted, so duplicates are found in Python among the few saved.
        existing = [m for m in ImportMapping.objects.all() if m.name.casefold() == label.casefold()]
        ImportMapping.objects.filter(pk__in=[m.pk for m in existing]).delete()
        saved = ImportMapping.objects.create(
            workspace=workspace,
            name=label,
            mapping=document,
            header_signature=header_signature(workspace=workspace, headers=headers),
            created_by=member,
        )
        # Keep the newest few: the list offered on the mapping step stays short.
        stale = ImportMapping.objects.order_by("-created_at", "-id")[SAVED_MAPPINGS_MAX:]
        ImportMapping.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.IMPORT_MAPPING_SAVED,
            target=("import_mapping", saved.pk),
            metadata={"columns": len(cleaned), "replaced": bool(existing)},
        )
    return saved
