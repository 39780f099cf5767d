"""CSV import of leads, the parts that write nothing: read and parse the upload, guess and
check the column mapping, turn a row into a lead item, and find saved mappings.

Row numbers count the header as row 1, as a spreadsheet does; a cell holding a quoted
newline still counts as one row.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from heroshhi.core.crypto.keys import index_key
from heroshhi.core.crypto.provider import length_prefixed
from heroshhi.core.tenancy import workspace_scope
from heroshhi.core.text import CONTROL_CHARACTER_MESSAGE, has_control_character
from heroshhi.leads import custom_fields
from heroshhi.leads.models import ImportMapping, LeadImport, Source, Stage
from heroshhi.leads.services.batch import LeadItem
from heroshhi.workspaces.models import Workspace

MAX_BYTES = 5 * 1024 * 1024
MAX_COLUMNS = 100
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


class RowError(Exception):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("row error")
        self.problems = problems


@dataclass(frozen=True, slots=True)
class RowConsent:
    given_at: datetime | None  # None: when the row is imported


def row_consent(values: dict[str, str]) -> RowConsent | None:
    """The row's marketing consent, if it says the person agreed."""
    said = " ".join(values.get("marketing_consent", "").replace("-", " ").split()).casefold()
    if said in _CONSENT_NO or said.replace(" ", "") in _CONSENT_NO:
        return None
    if said not in _CONSENT_YES and said.replace(" ", "") not in _CONSENT_YES:
        raise RowError([("marketing_consent", _("Write yes or no."))])
    day = values.get("consent_date", "")
    if not day:
        return RowConsent(given_at=None)
    try:
        given = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        given = None
    if given is None:
        raise RowError([("consent_date", _("Enter a date as YYYY-MM-DD."))])
    # A day, not a moment: the start of that day where the business is. Its bounds are
    # consent's own, checked where the import records it.
    return RowConsent(given_at=timezone.make_aware(datetime.combine(given, time.min)))


def row_item(
    *, cells: list[str], width: int, mapping: dict[int, str], stages: dict[str, Stage]
) -> tuple[LeadItem, RowConsent | None]:
    if len(cells) != width:
        raise RowError(
            [("", _("Expected %(n)d cells, found %(m)d.") % {"n": width, "m": len(cells)})]
        )
    values = {field: cells[index].strip() for index, field in mapping.items()}
    refused = [field for field, value in values.items() if has_control_character(value)]
    if refused:
        raise RowError([(field, str(CONTROL_CHARACTER_MESSAGE)) for field in refused])
    stage = None
    if values.get("stage"):
        stage = stages.get(" ".join(values["stage"].split()).casefold())
        if stage is None:
            raise RowError([("stage", _("Unknown stage."))])
    source = values.get("source", "").lower().replace(" ", "_") or Source.IMPORT.value
    tags = [tag for tag in values.get("tags", "").split(",") if tag.strip()]
    # Only when the mapping has custom columns: then the required ones are enforced too.
    custom = {
        field.removeprefix(CUSTOM_TARGET): value
        for field, value in values.items()
        if field.startswith(CUSTOM_TARGET)
    }
    consent = row_consent(values)
    item = LeadItem(
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
