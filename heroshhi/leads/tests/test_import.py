"""CSV import: parsing (BOM, quoting, Hindi/emoji), per-row errors with row numbers,
dedupe as updates, totals, size limit, roles, tenancy, idempotency and encryption at rest."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import importing
from heroshhi.leads.models import Lead, LeadImport
from heroshhi.leads.services import imports
from heroshhi.leads.tasks import lead_import_run
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db


def _upload(world, alice, data: bytes) -> LeadImport:
    with workspace_scope(world.a):
        member = Membership.objects.get(user=world.alice)
    return imports.lead_import_create(
        workspace=world.a,
        actor=alice,
        member=member,
        upload=SimpleUploadedFile("leads.csv", data, content_type="text/csv"),
    )


def _run(world, alice, data: bytes, mapping=None) -> LeadImport:
    lead_import = _upload(world, alice, data)
    headers = importing.headers_of(lead_import)
    imports.lead_import_start(
        workspace=world.a,
        actor=alice,
        lead_import=lead_import,
        mapping=mapping or importing.guess_mapping(headers),
    )
    assert lead_import_run(str(lead_import.pk)) == "done"
    with workspace_scope(world.a):
        return LeadImport.objects.get(pk=lead_import.pk)


def _names(world) -> set[str]:
    with workspace_scope(world.a):
        return {lead.name for lead in Lead.objects.all()}


def _report(lead_import) -> list[dict[str, str]]:
    text = lead_import.error_report or ""
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_it_imports_with_or_without_bom(world, alice, bom):
    done = _run(world, alice, bom + b"Name,Mobile\nAsha,+919876500001\n")
    assert (done.total, done.created, done.failed) == (1, 1, 0)
    assert _names(world) == {"Asha"}
    with workspace_scope(world.a):
        assert Lead.objects.get().source == "import"


def test_quoted_comma_and_newline_stay_in_one_cell(world, alice):
    data = 'name,phone,description\n"Shah, Ravi",+919876500002,"line one\nline two"\n'
    done = _run(world, alice, data.encode())
    assert done.created == 1
    with workspace_scope(world.a):
        lead = Lead.objects.get()
    assert lead.name == "Shah, Ravi"
    assert lead.description == "line one\nline two"


def test_hindi_and_emoji_names_round_trip(world, alice):
    done = _run(world, alice, "name,phone\nप्रिया शर्मा 🙏,+919876500003\n".encode())
    assert done.created == 1
    assert _names(world) == {"प्रिया शर्मा 🙏"}


def test_bad_rows_are_reported_with_row_numbers_and_the_rest_imported(world, alice):
    data = (
        "name,phone,email,stage\n"
        "Good,+919876500004,,New\n"
        "Bad phone,12,,\n"
        "Bad mail,,not-an-email,\n"
        "Odd stage,+919876500005,,Nowhere\n"
        "Short row\n"
        '"Multi\nline",+919876500006,,contacted\n'
    )
    done = _run(world, alice, data.encode())
    assert (done.total, done.created, done.updated, done.failed) == (6, 2, 0, 4)
    assert done.total == done.created + done.updated + done.failed
    problems = {(row["row"], row["column"]) for row in _report(done)}
    assert problems == {("3", "phone"), ("4", "email"), ("5", "stage"), ("6", "")}
    assert _report(done)[0]["original_row"] == "Bad phone,12,,"
    assert _names(world) == {"Good", "Multi\nline"}


def test_a_consent_column_records_marketing_consent_from_the_import(world, alice):
    from heroshhi.privacy.consent import has_marketing_consent
    from heroshhi.privacy.models import ConsentRecord

    last_year = (timezone.localdate() - timedelta(days=300)).isoformat()
    too_old = (timezone.localdate() - timedelta(days=3 * 365 + 2)).isoformat()
    data = (
        "name,phone,whatsapp opt-in,consent date\n"
        f"Asha,+919876500011,Yes,{last_year}\n"
        "Ravi,+919876500012,opted in,\n"
        "Meera,+919876500013,no,\n"
        "Kabir,+919876500014,maybe,\n"
        "Isha,+919876500015,yes,14/03/2026\n"
        "Dev,+919876500016,yes,2999-01-01\n"
        f"Om,+919876500017,yes,{too_old}\n"
    )

    done = _run(world, alice, data.encode())

    assert (done.created, done.failed) == (3, 4)
    report = {(row["row"], row["column"]): row["problem"] for row in _report(done)}
    assert set(report) == {
        ("5", "whatsapp opt-in"),
        ("6", "consent date"),
        ("7", "consent date"),
        ("8", "consent date"),
    }
    assert report[("7", "consent date")] == "This time is in the future."
    assert report[("8", "consent date")] == "This time is more than 1095 days ago."
    with workspace_scope(world.a):
        leads = {lead.name: lead for lead in Lead.objects.all()}
        records = {r.lead_id: r for r in ConsentRecord.objects.all()}
    assert set(leads) == {"Asha", "Ravi", "Meera"}
    assert has_marketing_consent(workspace=world.a, lead=leads["Asha"])
    assert has_marketing_consent(workspace=world.a, lead=leads["Ravi"])
    assert not has_marketing_consent(workspace=world.a, lead=leads["Meera"])
    asha = records[leads["Asha"].pk]
    assert asha.source == ConsentRecord.Source.IMPORT
    assert timezone.localtime(asha.given_at).date().isoformat() == last_year
    assert records[leads["Ravi"].pk].given_at >= done.created_at
    assert AuditEvent.objects.filter(action="consent_recorded").count() == 2


def test_an_existing_lead_counts_as_updated(world, alice, make_lead):
    make_lead(name="Old", phone="+919876500007")
    done = _run(world, alice, b"name,phone\nNew name,+919876500007\nOther,+919876500008\n")
    assert (done.total, done.created, done.updated, done.failed) == (2, 1, 1, 0)
    with workspace_scope(world.a):
        assert Lead.objects.count() == 2


def test_the_audit_event_holds_counts_only(world, alice):
    done = _run(world, alice, b"name,phone\nAsha,+919876500009\n")
    with workspace_scope(world.a):
        event = AuditEvent.objects.filter(action="data_import").get()
    assert event.metadata["created"] == 1
    assert "Asha" not in str(event.metadata)
    assert "98765" not in str(event.metadata)
    assert done.status == LeadImport.Status.DONE


def test_running_the_task_twice_imports_once(world, alice):
    done = _run(world, alice, b"name,phone\nAsha,+919876500010\n")
    assert lead_import_run(str(done.pk)) == "skipped"
    assert imports.lead_import_run(done.pk) == "skipped"
    with workspace_scope(world.a):
        assert Lead.objects.count() == 1


def test_the_upload_is_not_stored_in_plaintext(world, alice):
    _upload(world, alice, b"name,phone\nZebulon,+919876500011\n")
    assert LeadImport._meta.db_table == "leads_leadimport"
    with connection.cursor() as cursor:
        cursor.execute("SELECT content, headers FROM leads_leadimport")
        rows = cursor.fetchall()
    assert rows
    raw = str(rows[0])
    assert "Zebulon" not in raw
    assert "9876500011" not in raw
    assert "phone" not in raw


def _login(client, user):
    client.login(email=user.email, password=PASSWORD)


def test_the_pages_walk_upload_map_progress_and_report(
    client, world, django_capture_on_commit_callbacks
):
    _login(client, world.alice)
    slug = world.a.slug
    assert client.get(reverse("leads:import", kwargs={"slug": slug})).status_code == 200
    upload = SimpleUploadedFile("l.csv", b"Full Name,Mobile,Email\nAsha,+919876500012,x\n")
    response = client.post(reverse("leads:import", kwargs={"slug": slug}), {"file": upload})
    assert response.status_code == 302
    map_url = response["Location"]
    page = client.get(map_url)
    assert page.status_code == 200
    assert b'value="name" selected' in page.content
    assert b'value="phone" selected' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(map_url, {"col0": "name", "col1": "phone", "col2": "email"})
    assert response.status_code == 302
    progress = client.get(response["Location"])
    assert b"Download error report" in progress.content
    assert b'hx-trigger="every 1s"' not in progress.content
    partial = client.get(response["Location"], headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert b"<html" not in partial.content
    with workspace_scope(world.a):
        lead_import = LeadImport.objects.get()
    report = client.get(
        reverse("leads:import_report", kwargs={"slug": slug, "import_id": lead_import.pk})
    )
    text = report.content.decode("utf-8-sig")
    assert "2,Email,Enter a valid e-mail" in text
    assert text.splitlines()[0] == "row,column,problem,original_row"
    assert "Import CSV" in client.get(reverse("leads:list", kwargs={"slug": slug})).content.decode()


def test_progress_polls_while_running(client, world, alice):
    lead_import = _upload(world, alice, b"name\nAsha\n")
    with workspace_scope(world.a):
        LeadImport.objects.filter(pk=lead_import.pk).update(status="running")
    _login(client, world.alice)
    url = reverse(
        "leads:import_progress", kwargs={"slug": world.a.slug, "import_id": lead_import.pk}
    )
    assert b'hx-trigger="every 1s"' in client.get(url).content


def test_an_oversized_file_is_refused(client, world, monkeypatch):
    monkeypatch.setattr(importing, "MAX_BYTES", 100)
    _login(client, world.alice)
    upload = SimpleUploadedFile("big.csv", b"name\n" + b"a" * 200)
    response = client.post(reverse("leads:import", kwargs={"slug": world.a.slug}), {"file": upload})
    assert response.status_code == 400
    assert "larger than 5 MB" in response.content.decode()
    with workspace_scope(world.a):
        assert not LeadImport.objects.exists()


def test_sales_are_refused_and_other_workspaces_see_nothing(client, world, alice):
    lead_import = _upload(world, alice, b"name\nAsha\n")
    _login(client, world.bob)
    assert client.get(reverse("leads:import", kwargs={"slug": world.a.slug})).status_code == 403
    url = reverse("leads:import_map", kwargs={"slug": world.a.slug, "import_id": lead_import.pk})
    assert client.get(url).status_code == 403
    assert (
        "Import CSV"
        not in client.get(reverse("leads:list", kwargs={"slug": world.a.slug})).content.decode()
    )
    client.logout()
    _login(client, world.charlie)
    assert client.get(url).status_code == 404
    other = reverse(
        "leads:import_report", kwargs={"slug": world.b.slug, "import_id": lead_import.pk}
    )
    assert client.get(other).status_code == 404


def _mapped(world, alice) -> LeadImport:
    lead_import = _upload(world, alice, b"name,phone\nAsha,9876543210\n")
    imports.lead_import_start(
        workspace=world.a,
        actor=alice,
        lead_import=lead_import,
        mapping=importing.guess_mapping(importing.headers_of(lead_import)),
    )
    return lead_import


def _status(world, lead_import) -> str:
    with workspace_scope(world.a):
        return LeadImport.objects.get(pk=lead_import.pk).status


def test_the_sweeper_requeues_an_import_whose_task_never_arrived(world, alice):
    lead_import = _mapped(world, alice)  # queued on commit, which never happens here
    soon = timezone.now() + timedelta(minutes=1)
    assert imports.lead_imports_sweep(now=soon) == {"requeued": 0, "failed": 0}
    assert _status(world, lead_import) == "mapped"
    later = timezone.now() + timedelta(minutes=3)
    assert imports.lead_imports_sweep(now=later)["requeued"] == 1
    assert _status(world, lead_import) == "done"  # tasks run inline in tests
    assert "Asha" in _names(world)


def test_the_sweeper_fails_a_run_that_stopped_moving(world, alice):
    lead_import = _mapped(world, alice)
    with workspace_scope(world.a):
        LeadImport.objects.filter(pk=lead_import.pk).update(status="running")
    later = timezone.now() + timedelta(minutes=16)
    assert imports.lead_imports_sweep(now=later) == {"requeued": 0, "failed": 1}
    assert _status(world, lead_import) == "failed"


def test_a_cell_with_a_control_character_is_a_row_error_and_the_rest_imported(world, alice):
    data = "name,phone,tags\nGood,+919876500011,vip\nBad\x00name,+919876500012,\nOk,,a\x1bb\n"
    done = _run(world, alice, data.encode())
    assert (done.total, done.created, done.failed) == (3, 1, 2)
    problems = {(row["row"], row["column"]) for row in _report(done)}
    assert problems == {("3", "name"), ("4", "tags")}
    assert _names(world) == {"Good"}
