"""CSV export of leads (P19): streamed in keyset batches, safe to open in a spreadsheet.

Audit choice: the view counts the matching leads with the same filters and writes the
``data_export`` event *before* streaming starts. An event written at the end of the stream
would be lost whenever the download is cut off, which is exactly when one wants it; the
count may differ from the rows sent by the leads created or removed meanwhile.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC

from django.http import StreamingHttpResponse
from django.utils import timezone

from heroshhi.core.actors import Actor
from heroshhi.leads import custom_fields, selectors
from heroshhi.leads.models import CustomField
from heroshhi.leads.selectors_export import ExportLead, leads_export_batches, leads_export_count
from heroshhi.leads.services.sensitive_reads import leads_export_record
from heroshhi.workspaces.models import Workspace

COLUMNS = (
    "id",
    "name",
    "phone",
    "email",
    "source",
    "stage",
    "owner",
    "tags",
    "deal_value",
    "created_at",
)
# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def neutralise(value: str) -> str:
    """Prefix formula-looking cells with an apostrophe (OWASP CSV injection advice);
    ``+919876543210`` becomes ``'+919876543210`` and stays readable."""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


@dataclass(frozen=True, slots=True)
class Names:
    """Stage and owner names by id, read once per export instead of joined per row."""

    stages: dict[uuid.UUID, str]
    owners: dict[uuid.UUID, str]

    @classmethod
    def of(cls, workspace: Workspace) -> Names:
        return cls(
            stages={stage.pk: stage.name for stage in selectors.stages_list(workspace=workspace)},
            owners={m.pk: m.user.full_name for m in selectors.members_list(workspace=workspace)},
        )


def lead_row(lead: ExportLead, names: Names, fields: Sequence[CustomField] = ()) -> list[str]:
    """One lead's cells: the fixed COLUMNS, then one per active custom field."""
    cells = [
        lead.id,
        lead.name or "",
        lead.phone or "",
        lead.email or "",
        lead.source,
        names.stages.get(lead.stage_id, ""),
        "" if lead.owner_id is None else names.owners.get(lead.owner_id, ""),
        ", ".join(lead.tags),
        "" if lead.deal_value is None else str(lead.deal_value),
        lead.created_at.astimezone(UTC).isoformat(),
    ]
    if fields:
        values = lead.custom_values or {}
        cells += [str(values.get(field.key, "")) for field in fields]
    # neutralise(), inlined: this runs for every cell of a million-row export.
    return ["'" + cell if cell.startswith(_FORMULA_PREFIXES) else cell for cell in cells]


def _stream(
    *, workspace: Workspace, viewer: selectors.Viewer, filters: selectors.LeadFilters
) -> Iterator[str]:
    # One buffer per batch: csv.writer.writerows fills it in C, one string goes out.
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    # Custom fields follow the fixed columns, headed by their keys (which the import
    # recognises); keys are plain slugs, so the heading needs no neutralising.
    fields = custom_fields.custom_fields_list(workspace=workspace)
    names = Names.of(workspace)
    writer.writerow([*COLUMNS, *(field.key for field in fields)])
    yield BOM + buffer.getvalue()
    for batch in leads_export_batches(workspace=workspace, viewer=viewer, filters=filters):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([lead_row(lead, names, fields) for lead in batch])
        yield buffer.getvalue()


def leads_csv_response(
    *,
    workspace: Workspace,
    actor: Actor,
    viewer: selectors.Viewer,
    filters: selectors.LeadFilters,
    filter_keys: list[str],
) -> StreamingHttpResponse:
    count = leads_export_count(workspace=workspace, viewer=viewer, filters=filters)
    leads_export_record(workspace=workspace, actor=actor, count=count, filters=sorted(filter_keys))
    response = StreamingHttpResponse(
        _stream(workspace=workspace, viewer=viewer, filters=filters),
        content_type="text/csv; charset=utf-8",
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="leads-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
