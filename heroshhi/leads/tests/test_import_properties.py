"""CSV import under arbitrary cells: the upload is accepted, and its run ends ``done`` with
exactly one verdict (created, updated or a reported error) per row."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import importing
from heroshhi.leads.models import LeadImport
from heroshhi.leads.services import imports
from heroshhi.leads.tasks import lead_import_run
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db

HEADERS = [
    "Name",
    "Phone",
    "Email",
    "Source",
    "Stage",
    "Tags",
    "Deal value",
    "Description",
    "Marketing consent",
    "Consent date",
]
# Any character a file can hold (surrogates cannot be UTF-8), control characters included.
cells = st.text(st.characters(exclude_categories=["Cs"]), max_size=40) | st.sampled_from(
    [
        "",
        "  ",
        "+919876500001",
        "asha@a.example",
        "yes",
        "no",
        "2025-02-30",
        "1e400",
        "-0",
        "x" * 5000,
    ]
)
rows = st.lists(st.lists(cells, min_size=0, max_size=len(HEADERS) + 2), min_size=1, max_size=8)


def _csv(data: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(data)
    return buffer.getvalue().encode()


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=rows)
def test_arbitrary_cells_get_a_verdict_per_row(world, alice, data):
    with workspace_scope(world.a):
        member = Membership.objects.get(user=world.alice)
    upload = SimpleUploadedFile("leads.csv", _csv(data), content_type="text/csv")
    # Well-formed CSV under the size limit: never refused as a whole, whatever the cells hold.
    lead_import = imports.lead_import_create(
        workspace=world.a, actor=alice, member=member, upload=upload
    )
    imports.lead_import_start(
        workspace=world.a,
        actor=alice,
        lead_import=lead_import,
        mapping=importing.guess_mapping(importing.headers_of(lead_import)),
    )
    assert lead_import_run(str(lead_import.pk)) == "done"
    with workspace_scope(world.a):
        done = LeadImport.objects.get(pk=lead_import.pk)
    data_rows = {number for number, _cells in importing.parse(done.content).rows}
    assert done.created + done.updated + done.failed == done.total == len(data_rows)
    report = csv.DictReader(io.StringIO((done.error_report or "").removeprefix("\ufeff")))
    reported = {int(line["row"]) for line in report}
    assert len(reported) == done.failed
    assert reported <= data_rows
