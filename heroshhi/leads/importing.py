"""CSV import of leads: parse, map columns to lead fields, run in batches, report per row.

The uploaded file and the error report are stored encrypted on ``LeadImport``. Logs, task
arguments and audit metadata carry ids and counts only; the error report names the row
number, the column and the problem, and repeats the original row only inside the
downloadable report (which the importer already has).

Row numbers count the header as row 1, as a spreadsheet does; a cell holding a quoted
newline still counts as one row.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto.keys import index_key
from heroshhi.core.crypto.provider import length_prefixed
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import batch, custom_fields
from heroshhi.leads.export import BOM, neutralise
from heroshhi.leads.models import ImportMapping, LeadImport, Source, Stage
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.privacy.consent import consents_grant_many
from heroshhi.privacy.models import ConsentRecord
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

logger = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_COLUMNS = 100
# Rows per transaction and per progress update; the batch service takes at most this many.
BATCH_SIZE = batch.IMPORT_BATCH_MAX
PREVIEW_ROWS = 5
FIELDS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("E-mail"),
    "source": gettext_lazy("Source"),
    "stage": gettext_lazy("Stage (by name)"),
    "tags": gettext_lazy("Tags (comma-separated)"),
    "deal_value": gettext_lazy("Deal value"),
    "description": gettext_lazy("Description"),
    "marketing_consent": gettext_lazy("Marketing consent (yes / no)"),
    "consent_date": gettext_lazy("Consent date (YYYY-MM-DD)"),
}
# Header words (lower-cased, spaces and punctuation dropped) → the field they suggest.
_GUESSES = {
    "name": "name",
    "fullname": "name",
    "leadname": "name",
    "customer": "name",
    "customername": "name",
    "contactname": "name",
    "phone": "phone",
    "mobile": "phone",
    "mobileno": "phone",
    "mobilenumber": "phone",
    "phonenumber": "phone",
    "phoneno": "phone",
    "whatsapp": "phone",
    "whatsappnumber": "phone",
    "contact": "phone",
    "contactnumber": "phone",
    "email": "email",
    "emailaddress": "email",
    "mail": "email",
    "source": "source",
    "stage": "stage",
    "status": "stage",
    "tags": "tags",
    "tag": "tags",
    "labels": "tags",
    "dealvalue": "deal_value",
    "value": "deal_value",
    "amount": "deal_value",
    "budget": "deal_value",
    "description": "description",
    "notes": "description",
    "note": "description",
    "remarks": "description",
    "comments": "description",
    "consent": "marketing_consent",
    "marketingconsent": "marketing_consent",
    "optin": "marketing_consent",
    "whatsappoptin": "marketing_consent",
    "consentdate": "consent_date",
    "optindate": "consent_date",
}
# What a consent column may say (case and spaces ignored); anything else is a row error.
_CONSENT_YES = frozenset({"yes", "y", "true", "1", "agreed", "optin", "opted in", "haan"})
_CONSENT_NO = frozenset({"", "no", "n", "false", "0", "nahi"})
REPORT_COLUMNS = ("row", "column", "problem", "original_row")
# A mapping target naming a custom field: "custom:<key>".
CUSTOM_TARGET = "custom:"
SAVED_MAPPINGS_MAX = 50
MAPPING_NAME_MAX = 80
_SIGNATURE_LABEL = b"heroshhi/import-headers/v1"


@dataclass(frozen=True, slots=True)
class Parsed:
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (row number, cells)


def _invalid(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def read_upload(upload: Any) -> str:
    """The upload as text; refuses files over 5 MB before reading them fully."""
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        raise _invalid(_("The file is larger than 5 MB. Split it into smaller files."))
    raw = upload.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise _invalid(_("The file is larger than 5 MB. Split it into smaller files."))
    try:
        return bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid(_("Save the file as CSV in UTF-8 and upload it again.")) from None


def parse(text: str) -> Parsed:
    """Header and data rows; blank lines are skipped. Raises ValidationError on bad CSV."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    headers: list[str] | None = None
    try:
        for number, cells in enumerate(reader, start=1):
            if headers is None:
                if not any(cell.strip() for cell in cells):
                    raise _invalid(_("The first row must hold the column headings."))
                headers = [cell.strip() for cell in cells]
                continue
            if cells and any(cell.strip() for cell in cells):
                rows.append((number, cells))
    except csv.Error:
        raise _invalid(_("The file is not valid CSV.")) from None
    if headers is None:
        raise _invalid(_("The file is empty."))
    if len(headers) > MAX_COLUMNS:
        raise _invalid(_("Use at most %(max)d columns.") % {"max": MAX_COLUMNS})
    return Parsed(headers=headers, rows=rows)


def targets_for(workspace: Workspace) -> dict[str, Any]:
    """Every field a column can fill: the lead fields, then the active custom fields."""
    fields = custom_fields.custom_fields_list(workspace=workspace)
    return FIELDS | {CUSTOM_TARGET + field.key: field.label for field in fields}


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def guess_mapping(headers: list[str], targets: Mapping[str, Any] = FIELDS) -> dict[str, str]:
    """Column index → field, from the heading; each field is guessed once at most. A
    custom field is guessed from its key or its label, before the built-in guesses."""
    custom: dict[str, str] = {}
    for target, label in targets.items():
        if target.startswith(CUSTOM_TARGET):
            custom.setdefault(_squash(target.removeprefix(CUSTOM_TARGET)), target)
            custom.setdefault(_squash(str(label)), target)
    # The workspace's own fields are the more specific guess ("Budget" → its budget field).
    guesses = _GUESSES | custom
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        field = guesses.get(_squash(header))
        if field and field in targets and field not in mapping.values():
            mapping[str(index)] = field
    return mapping


def clean_mapping(
    raw: Mapping[str, str], *, columns: int, targets: Mapping[str, Any] = FIELDS
) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for index in range(columns):
        field = raw.get(str(index), "")
        if not field:
            continue
        if field not in targets:
            raise ValidationError({"mapping": [_("Choose a lead field or skip the column.")]})
        if field in mapping.values():
            raise ValidationError(
                {"mapping": [_("Map each lead field to one column at most: %(f)s.") % {"f": field}]}
            )
        mapping[str(index)] = field
    if not {"name", "phone", "email"} & set(mapping.values()):
        raise ValidationError({"mapping": [_("Map at least a name, phone or e-mail column.")]})
    return mapping


def headers_of(lead_import: LeadImport) -> list[str]:
    return list(json.loads(lead_import.headers))


# Services -------------------------------------------------------------------------------


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
    from heroshhi.leads.tasks import lead_import_run as task

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


class _RowError(Exception):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("row error")
        self.problems = problems


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
    items: list[tuple[int, batch.LeadItem]] = []
    consents: dict[int, datetime | None] = {}
    for position, (_number, cells) in enumerate(rows):
        try:
            item, consent = _row_item(cells=cells, width=width, mapping=mapping, stages=stages)
        except _RowError as exc:
            outcomes.append(exc.problems)
            continue
        items.append((position, item))
        if consent is not None:
            consents[position] = consent.given_at
        outcomes.append(True)  # replaced by the batch result below
    if not items:
        return outcomes
    results = batch.leads_create_many(
        workspace=workspace,
        actor=actor,
        items=[item for _position, item in items],
        limit=BATCH_SIZE,
    )
    for (position, _item), result in zip(items, results, strict=True):
        if result.status == batch.ItemStatus.ERROR:
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
            outcomes[position] = result.status == batch.ItemStatus.CREATED
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


@dataclass(frozen=True, slots=True)
class _Consent:
    given_at: datetime | None  # None: when the row is imported


def _row_consent(values: dict[str, str]) -> _Consent | None:
    """The row's marketing consent, if it says the person agreed."""
    said = " ".join(values.get("marketing_consent", "").replace("-", " ").split()).casefold()
    if said in _CONSENT_NO or said.replace(" ", "") in _CONSENT_NO:
        return None
    if said not in _CONSENT_YES and said.replace(" ", "") not in _CONSENT_YES:
        raise _RowError([("marketing_consent", _("Write yes or no."))])
    day = values.get("consent_date", "")
    if not day:
        return _Consent(given_at=None)
    try:
        given = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        given = None
    if given is None:
        raise _RowError([("consent_date", _("Enter a date as YYYY-MM-DD."))])
    if given > timezone.localdate():
        raise _RowError([("consent_date", _("Consent cannot be given in the future."))])
    # A day, not a moment: the start of that day where the business is.
    return _Consent(given_at=timezone.make_aware(datetime.combine(given, time.min)))


def _row_item(
    *, cells: list[str], width: int, mapping: dict[int, str], stages: dict[str, Stage]
) -> tuple[batch.LeadItem, _Consent | None]:
    if len(cells) != width:
        raise _RowError(
            [("", _("Expected %(n)d cells, found %(m)d.") % {"n": width, "m": len(cells)})]
        )
    values = {field: cells[index].strip() for index, field in mapping.items()}
    stage = None
    if values.get("stage"):
        stage = stages.get(" ".join(values["stage"].split()).casefold())
        if stage is None:
            raise _RowError([("stage", _("Unknown stage."))])
    source = values.get("source", "").lower().replace(" ", "_") or Source.IMPORT.value
    tags = [tag for tag in values.get("tags", "").split(",") if tag.strip()]
    # Only when the mapping has custom columns: then the required ones are enforced too.
    custom = {
        field.removeprefix(CUSTOM_TARGET): value
        for field, value in values.items()
        if field.startswith(CUSTOM_TARGET)
    }
    consent = _row_consent(values)
    item = batch.LeadItem(
        name=values.get("name") or None,
        phone=values.get("phone") or None,
        email=values.get("email") or None,
        source=source,
        stage=stage,
        tags=tags,
        deal_value=values.get("deal_value") or None,
        description=values.get("description") or None,
        custom_fields=custom or None,
    )
    return item, consent


QUEUED_STALE_AFTER = timedelta(minutes=2)
RUNNING_STALE_AFTER = timedelta(minutes=15)


def lead_imports_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Re-queue imports whose task message never arrived, and fail runs that stopped
    saving progress (a killed worker), so nothing waits forever. Re-running a failed file
    is safe: rows already imported deduplicate onto their leads.

    The one reviewed cross-workspace read of imports (a platform job)."""
    now = now or timezone.now()
    from heroshhi.leads.tasks import lead_import_run as task

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


# Saved mappings ---------------------------------------------------------------------------


def _heading(text: str) -> str:
    return " ".join(text.split()).casefold()


def header_signature(*, workspace: Workspace, headers: list[str]) -> str:
    """A keyed hash of the set of headings (order, case and spacing ignored). Keyed by the
    workspace's index key because headings can name people, and a bare hash of short
    text can be guessed."""
    distinct = sorted({_heading(header) for header in headers if header.strip()})
    message = length_prefixed(_SIGNATURE_LABEL, *(item.encode("utf-8") for item in distinct))
    return index_key(workspace.pk).mac(message).hex()[:32]


def import_mappings_list(*, workspace: Workspace) -> list[ImportMapping]:
    """Saved mappings, newest first (names are encrypted, so not sorted by name)."""
    with workspace_scope(workspace):
        return list(ImportMapping.objects.order_by("-created_at", "-id")[:SAVED_MAPPINGS_MAX])


def saved_mapping_for(*, workspace: Workspace, headers: list[str]) -> ImportMapping | None:
    """The newest saved mapping made for a file with the same set of headings."""
    signature = header_signature(workspace=workspace, headers=headers)
    with workspace_scope(workspace):
        return (
            ImportMapping.objects.filter(header_signature=signature)
            .order_by("-created_at", "-id")
            .first()
        )


def apply_saved_mapping(
    saved: ImportMapping, *, headers: list[str], targets: Mapping[str, Any]
) -> dict[str, str]:
    """Column index → field for this file, from a saved heading → field mapping. Fields
    that no longer exist (an archived custom field) are left out."""
    by_heading: dict[str, str] = {
        _heading(h): t for h, t in saved.mapping.get("targets", {}).items()
    }
    mapping: dict[str, str] = {}
    for index, header in enumerate(headers):
        target = by_heading.get(_heading(header))
        if target is not None and target in targets and target not in mapping.values():
            mapping[str(index)] = target
    return mapping


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
