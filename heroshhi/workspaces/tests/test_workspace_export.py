"""The owner's whole-workspace export (P04, P19): a background job writes a private zip of
CSV and JSON; an expiring signed link downloads it; expired files are deleted."""

from __future__ import annotations

import csv
import io
import json
import stat
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.accounts.services import api_key_create
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.custom_fields import custom_field_create
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.tasks import task_create
from heroshhi.messaging import optout
from heroshhi.messaging.calls import call_log
from heroshhi.messaging.models import OptOutRecord
from heroshhi.workspaces import export, export_build, export_files, tasks
from heroshhi.workspaces.models import WorkspaceExport
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db

PHONE = "+919876543210"


@pytest.fixture
def alice(world) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


@contextmanager
def hours_later(hours: float) -> Iterator[None]:
    then = timezone.now() + timedelta(hours=hours)
    with mock.patch("django.utils.timezone.now", return_value=then):
        yield


@pytest.fixture
def seeded(world, alice) -> Lead:
    """A lead in A with a custom field, a tag, a note, a task, a call and an opt-out, and
    a lead in B that must not appear."""
    custom_field_create(workspace=world.a, actor=alice, label="Budget", kind="number")
    lead = lead_create(
        workspace=world.a,
        actor=alice,
        name="=HYPERLINK(1)",
        phone=PHONE,
        email="priya@example.in",
        source="manual",
        tags=["hot"],
        custom_fields={"budget": 50000},
    ).lead
    note_add(workspace=world.a, actor=alice, lead=lead, body="Prefers mornings")
    task_create(
        workspace=world.a,
        actor=alice,
        lead=lead,
        title="Send brochure",
        due_at=timezone.now() + timedelta(days=1),
    )
    call_log(
        workspace=world.a,
        actor=alice,
        lead=lead,
        direction="out",
        started_at=timezone.now() - timedelta(hours=1),
        duration_seconds=90,
        outcome="connected",
        notes="Asked for a discount",
    )
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=lead)
    lead_create(
        workspace=world.b,
        actor=Actor.user(world.charlie.pk, role=Role.OWNER),
        name="Beta Secret",
        phone="+919800000001",
        email=None,
        source="manual",
    )
    return lead


def _run_export(world, alice, django_capture_on_commit_callbacks) -> WorkspaceExport:
    # Tasks run eagerly in tests: the job runs when the transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        started = export.workspace_export_start(
            workspace=world.a, actor=alice, requested_by=world.alice
        )
    with workspace_scope(world.a):
        return WorkspaceExport.objects.get(pk=started.pk)


def _read_csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def test_the_export_holds_every_category_of_the_workspace_and_nothing_else(
    world, alice, seeded, django_capture_on_commit_callbacks
):
    done = _run_export(world, alice, django_capture_on_commit_callbacks)

    assert done.status == WorkspaceExport.Status.READY
    assert done.percent == 100
    assert done.rows_done == done.rows_total > 0
    path = export_files.export_path(done)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    plaintext = b"".join(export_files.export_chunks(done))
    assert done.size_bytes == len(plaintext)
    with zipfile.ZipFile(io.BytesIO(plaintext)) as archive:
        names = set(archive.namelist())
        assert {
            "leads.csv",
            "conversations.csv",
            "messages.csv",
            "calls.csv",
            "notes.csv",
            "tasks.csv",
            "opt_outs.csv",
            "audit_events.jsonl",
            "manifest.json",
        } <= names
        leads = _read_csv(archive, "leads.csv")
        notes = _read_csv(archive, "notes.csv")
        calls = _read_csv(archive, "calls.csv")
        tasks = _read_csv(archive, "tasks.csv")
        opt_outs = _read_csv(archive, "opt_outs.csv")
        events = [json.loads(line) for line in archive.read("audit_events.jsonl").splitlines()]
        manifest = json.loads(archive.read("manifest.json"))
        everything = b"".join(archive.read(name) for name in names)

    assert len(leads) == 1
    row = leads[0]
    assert row["id"] == str(seeded.pk)
    assert row["name"] == "'=HYPERLINK(1)"  # neutralised for spreadsheets
    assert row["phone"] == "'" + PHONE
    assert row["email"] == "priya@example.in"
    assert row["tags"] == "hot"
    assert row["custom:budget"] == "50000"
    assert "phone_bidx" not in row
    assert notes[0]["body"] == "Prefers mornings"
    assert calls[0]["notes"] == "Asked for a discount"
    assert tasks[0]["title"] == "Send brochure"
    assert opt_outs[0]["lead_id"] == str(seeded.pk)
    assert opt_outs[0]["status"] == OptOutRecord.Status.OPTED_OUT
    with workspace_scope(world.a):
        bidx = OptOutRecord.objects.get().phone_bidx
    assert bidx.encode() not in everything
    assert b"Beta Secret" not in everything
    assert {e["action"] for e in events} >= {"lead_created", "optout_recorded"}
    assert all(e["chain"] == str(world.a.pk) for e in events)
    assert manifest["files"]["leads.csv"] == 1
    assert manifest["files"] == done.counts

    audit = AuditEvent.objects.get(chain=str(world.a.pk), action="data_export")
    assert audit.actor_id == str(world.alice.pk)
    assert audit.metadata == {"scope": "workspace", "rows": done.counts}


def test_only_owners_may_export(world):
    bob = Actor.user(world.bob.pk, role=Role.SALES)
    manager = Actor.user(world.bob.pk, role=Role.MANAGER)
    for actor in (bob, manager):
        with pytest.raises(PermissionDenied):
            export.workspace_export_start(workspace=world.a, actor=actor, requested_by=world.bob)


def test_a_second_start_while_one_is_queued_returns_it_and_a_task_runs_once(world, alice):
    first = export.workspace_export_start(workspace=world.a, actor=alice, requested_by=world.alice)
    again = export.workspace_export_start(workspace=world.a, actor=alice, requested_by=world.alice)
    assert again.pk == first.pk

    assert export_build.workspace_export_run(str(first.pk)) == "ready"
    assert export_build.workspace_export_run(str(first.pk)) == "skipped"
    assert export_build.workspace_export_run("00000000-0000-0000-0000-000000000000") == "missing"
    assert AuditEvent.objects.filter(action="data_export").count() == 1


# --- The page and the download link ---------------------------------------------------------


def _page(world) -> str:
    return reverse("workspaces:danger_zone", kwargs={"slug": world.a.slug})


def _download_url(world, token: str) -> str:
    return reverse("workspaces:export_download", kwargs={"slug": world.a.slug, "token": token})


def test_the_owner_starts_an_export_sees_progress_and_downloads_it(
    client, world, seeded, django_capture_on_commit_callbacks
):
    client.login(email=world.alice.email, password=PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("workspaces:export_start", kwargs={"slug": world.a.slug}))
    assert started.status_code == 302
    with workspace_scope(world.a):
        done = WorkspaceExport.objects.get()
    status = client.get(
        reverse("workspaces:export_status", kwargs={"slug": world.a.slug, "export_id": done.pk}),
        HTTP_HX_REQUEST="true",
    )
    assert status.status_code == 200
    assert b"Download the export" in status.content
    page = client.get(_page(world))
    token = export.download_token(done)
    assert _download_url(world, token).encode() in page.content

    response = client.get(_download_url(world, token))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body) == done.size_bytes
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "leads.csv" in archive.namelist()
    downloads = AuditEvent.objects.filter(action="data_export", metadata__step="download")
    assert downloads.count() == 1
    with workspace_scope(world.a):
        done.refresh_from_db()
    assert done.downloads == 1


def test_a_tampered_link_is_refused_with_a_clear_page(
    client, world, alice, django_capture_on_commit_callbacks
):
    done = _run_export(world, alice, django_capture_on_commit_callbacks)
    token = export.download_token(done)
    client.login(email=world.alice.email, password=PASSWORD)

    tampered = client.get(_download_url(world, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")))
    assert tampered.status_code == 404
    assert b"This download link is not valid" in tampered.content
    assert client.get(_download_url(world, "not-a-token")).status_code == 404


def test_another_workspace_cannot_use_the_link(
    client, world, alice, django_capture_on_commit_callbacks
):
    done = _run_export(world, alice, django_capture_on_commit_callbacks)
    token = export.download_token(done)
    client.login(email=world.charlie.email, password=PASSWORD)
    own = reverse("workspaces:export_download", kwargs={"slug": world.b.slug, "token": token})
    assert client.get(own).status_code == 404
    assert client.get(_download_url(world, token)).status_code == 404
    client.login(email=world.bob.email, password=PASSWORD)  # a member, but not an owner
    assert client.get(_download_url(world, token)).status_code == 403


def test_after_24_hours_the_link_expires_and_the_purge_deletes_the_file(
    client, world, alice, django_capture_on_commit_callbacks
):
    done = _run_export(world, alice, django_capture_on_commit_callbacks)
    token = export.download_token(done)
    path = export_files.export_path(done)
    assert path.is_file()
    assert tasks.workspace_exports_purge() == {"expired": 0, "failed": 0, "requeued": 0}
    client.login(email=world.alice.email, password=PASSWORD)

    # The signed-in session would not survive a frozen clock 25 hours on; the row's
    # expiry is what the view checks (the token's own age limit is the same 24 hours).
    with workspace_scope(world.a):
        WorkspaceExport.objects.filter(pk=done.pk).update(
            expires_at=timezone.now() - timedelta(minutes=1)
        )
    expired = client.get(_download_url(world, token))
    assert expired.status_code == 410
    assert b"This export has expired" in expired.content
    with hours_later(25):
        assert tasks.workspace_exports_purge()["expired"] == 1

    assert not path.exists()
    with workspace_scope(world.a):
        done.refresh_from_db()
    assert done.status == WorkspaceExport.Status.EXPIRED


def test_a_token_older_than_24_hours_is_expired_even_if_the_row_says_otherwise(
    world, alice, django_capture_on_commit_callbacks
):
    done = _run_export(world, alice, django_capture_on_commit_callbacks)
    token = export.download_token(done)
    with workspace_scope(world.a):
        WorkspaceExport.objects.filter(pk=done.pk).update(
            expires_at=timezone.now() + timedelta(days=7)
        )
    with hours_later(25), pytest.raises(export.ExportLinkExpired):
        export.export_for_token(workspace=world.a, token=token)
    assert export.export_for_token(workspace=world.a, token=token).pk == done.pk


def test_the_purge_fails_a_stalled_run_and_requeues_a_lost_one(world, alice):
    lost = export.workspace_export_start(workspace=world.a, actor=alice, requested_by=world.alice)
    with hours_later(1):
        counts = tasks.workspace_exports_purge()
    assert counts["requeued"] == 1
    with workspace_scope(world.a):
        lost.refresh_from_db()
        assert lost.status == WorkspaceExport.Status.READY  # eager: the re-queued task ran
        stalled = WorkspaceExport.objects.create(
            workspace=world.a,
            status=WorkspaceExport.Status.RUNNING,
            progress_at=timezone.now() - timedelta(hours=1),
        )
    assert tasks.workspace_exports_purge()["failed"] == 1
    with workspace_scope(world.a):
        stalled.refresh_from_db()
    assert stalled.status == WorkspaceExport.Status.FAILED


# --- REST ---------------------------------------------------------------------------------


def _key(world, role: Role) -> dict[str, str]:
    issued = api_key_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        created_by=world.alice,
        name=f"{role} key",
        role=role,
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.plaintext}"}


def test_an_owner_key_starts_follows_and_downloads_an_export(
    client, world, seeded, django_capture_on_commit_callbacks
):
    auth = _key(world, Role.OWNER)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/v1/workspace/export", **auth)
    assert started.status_code == 202
    export_id = started.json()["id"]

    status = client.get(f"/api/v1/workspace/export/{export_id}", **auth).json()
    assert status["status"] == "ready"
    assert status["percent"] == 100
    assert status["counts"]["leads.csv"] == 1
    response = client.get(f"/api/v1/workspace/export/{export_id}/file", **auth)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))) as archive:
        assert "manifest.json" in archive.namelist()
    assert AuditEvent.objects.filter(action="data_export", metadata__step="download").exists()


def test_an_export_not_ready_answers_409_and_other_keys_are_refused(client, world, alice):
    queued = export.workspace_export_start(workspace=world.a, actor=alice, requested_by=None)
    owner = _key(world, Role.OWNER)
    response = client.get(f"/api/v1/workspace/export/{queued.pk}/file", **owner)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "export_not_ready"

    manager = _key(world, Role.MANAGER)
    assert client.post("/api/v1/workspace/export", **manager).status_code == 403
    assert client.get(f"/api/v1/workspace/export/{queued.pk}", **manager).status_code == 403
    assert client.get("/api/v1/workspace/export/not-a-uuid", **owner).status_code == 404


def test_the_file_waiting_on_disk_is_encrypted_with_the_workspace_key(
    world, alice, seeded, django_capture_on_commit_callbacks
):
    from heroshhi.core.crypto import DecryptionError
    from heroshhi.core.crypto.files import decrypted_chunks

    done = _run_export(world, alice, django_capture_on_commit_callbacks)
    stored = export_files.export_path(done).read_bytes()

    assert not zipfile.is_zipfile(io.BytesIO(stored))
    with workspace_scope(world.a):
        lead = Lead.objects.get(pk=seeded.pk)
    for plaintext in (lead.name, lead.phone, lead.phone.lstrip("+"), "leads.csv"):
        assert plaintext.encode() not in stored
    # Bound to its own file: under another export's name it does not decrypt.
    elsewhere = f"workspace_export:{uuid.uuid4()}"
    with pytest.raises(DecryptionError):
        b"".join(decrypted_chunks(io.BytesIO(stored), workspace_id=world.a.pk, label=elsewhere))


@pytest.mark.audit_queue
def test_the_export_pages_through_linked_audit_events_and_skips_queued_ones(
    world, alice, django_capture_on_commit_callbacks
):
    from heroshhi.audit import sequencer

    chain = str(world.a.pk)
    for n in range(4):
        lead_create(
            workspace=world.a,
            actor=alice,
            name=f"Lead {n}",
            phone=None,
            email=None,
            source="manual",
        )
    assert sequencer.link_pending(chain) > 0
    linked = list(
        AuditEvent.objects.filter(chain=chain, seq__isnull=False)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    lead_create(
        workspace=world.a, actor=alice, name="Late", phone=None, email=None, source="manual"
    )
    queued = AuditEvent.objects.filter(chain=chain, seq__isnull=True)
    assert queued.exists()  # still waiting for the sequencer when the export runs

    # Pages of two, so the export must page by sequence more than once past the linked ones.
    with mock.patch.object(export_build, "BATCH", 2):
        done = _run_export(world, alice, django_capture_on_commit_callbacks)

    assert done.status == WorkspaceExport.Status.READY
    assert len(linked) > 2
    with zipfile.ZipFile(io.BytesIO(b"".join(export_files.export_chunks(done)))) as archive:
        events = [json.loads(line) for line in archive.read("audit_events.jsonl").splitlines()]
    assert [event["seq"] for event in events] == linked
    queued_ids = {str(pk) for pk in queued.values_list("pk", flat=True)}
    assert queued_ids.isdisjoint(event["id"] for event in events)
    assert done.counts["audit_events.jsonl"] == len(linked)
