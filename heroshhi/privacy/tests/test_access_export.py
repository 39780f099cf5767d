"""Access and portability: the report holds every category, the zip holds the JSON and one
CSV per category, downloads are audited and their links are signed, short-lived and
single-use."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import PASSWORD, World
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.privacy import report as reports
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.exports import (
    _LINK_SALT,
    export_link_create,
    export_link_redeem,
    lead_access_export,
)
from heroshhi.privacy.services.requests import privacy_request_complete, privacy_request_create
from heroshhi.privacy.tests.conftest import (
    CALL_NOTES,
    CUSTOM_VALUE,
    EMAIL,
    MESSAGE_IN,
    MESSAGE_OUT,
    NAME,
    NOTE,
    NOTICE_VERSION,
    PHONE,
    TASK,
    WA_USER_ID,
    Person,
)


def _request(world: World, alice: Actor, person: Person, type: str = "access") -> PrivacyRequest:
    return privacy_request_create(
        workspace=world.a, actor=alice, type=type, lead=person.lead, channel="email"
    )


def test_the_report_holds_every_category(world: World, alice: Actor, person: Person):
    report = lead_access_export(workspace=world.a, actor=alice, lead=person.lead, format="json")
    assert set(reports.CATEGORIES) <= set(report)
    lead = report["lead"]
    assert (lead["name"], lead["phone"], lead["email"]) == (NAME, PHONE, EMAIL)
    assert lead["stage"] == "New"
    assert [row["value"] for row in report["custom_fields"]] == [CUSTOM_VALUE]
    assert [note["body"] for note in report["notes"]] == [NOTE]
    assert [task["title"] for task in report["tasks"]] == [TASK]
    kinds = [event["kind"] for event in report["timeline"]]
    assert {"created", "note_added", "task_added", "opted_out"} <= set(kinds)
    assert report["conversations"][0]["whatsapp_user_id"] == WA_USER_ID
    assert [(m["direction"], m["body"]) for m in report["messages"]] == [
        ("in", MESSAGE_IN),
        ("out", MESSAGE_OUT),
    ]
    assert report["messages"][1]["status"] == "delivered"
    assert report["calls"][0]["notes"] == CALL_NOTES
    assert report["calls"][0]["from_number"] == PHONE
    assert [
        (c["purpose"], c["status"], c["source"], c["notice_version"]) for c in report["consent"]
    ] == [("marketing", "granted", "form", NOTICE_VERSION)]
    assert [(r["status"], r["method"]) for r in report["opt_out_history"]] == [
        ("opted_out", "manual")
    ]
    # Audited as an export, with counts and no personal data.
    event = AuditEvent.objects.filter(action=AuditAction.DATA_EXPORT).latest("seq")
    assert event.target_id == str(person.lead.pk)
    assert event.metadata["counts"]["messages"] == 2
    assert NAME not in json.dumps(event.metadata)


def test_the_zip_holds_the_json_and_one_csv_per_category(world, alice, person):
    report = lead_access_export(workspace=world.a, actor=alice, lead=person.lead, format="zip")
    archive = zipfile.ZipFile(io.BytesIO(reports.report_zip(report)))
    names = set(archive.namelist())
    assert names == {"subject.json"} | {f"{name}.csv" for name in reports.CATEGORIES}
    assert json.loads(archive.read("subject.json"))["lead"]["email"] == EMAIL
    messages = list(csv.DictReader(io.StringIO(archive.read("messages.csv").decode("utf-8-sig"))))
    assert [row["body"] for row in messages] == [MESSAGE_IN, MESSAGE_OUT]
    lead_rows = dict(csv.reader(io.StringIO(archive.read("lead.csv").decode("utf-8-sig"))))
    # A phone number starts with "+": neutralised so a spreadsheet reads it as text.
    assert lead_rows["phone"] == "'" + PHONE


def test_exporting_moves_the_request_on_and_records_counts(world, alice, person):
    request = _request(world, alice, person)
    lead_access_export(
        workspace=world.a, actor=alice, lead=person.lead, format="json", request=request
    )
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_PROGRESS
    assert request.handler is not None
    assert request.handler.user_id == world.alice.pk
    assert request.outcome["exported"]["counts"]["calls"] == 1
    privacy_request_complete(workspace=world.a, actor=alice, request=request)
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.COMPLETED


def test_an_access_request_cannot_be_completed_before_the_export(world, alice, person):
    request = _request(world, alice, person)
    with pytest.raises(ValidationError):
        privacy_request_complete(workspace=world.a, actor=alice, request=request)
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.OPEN


# The signed link -------------------------------------------------------------------------


def _download_url(world: World, request: PrivacyRequest, token: str) -> str:
    return reverse(
        "privacy:request_download",
        kwargs={"slug": world.a.slug, "request_id": request.pk, "token": token},
    )


def test_the_download_link_works_once(client, world, alice, person):
    request = _request(world, alice, person, type="portability")
    client.login(email=world.alice.email, password=PASSWORD)
    prepare = reverse(
        "privacy:request_export", kwargs={"slug": world.a.slug, "request_id": request.pk}
    )
    response = client.post(prepare, {"format": "zip"})
    assert response.status_code == 302
    page = client.get(response["Location"])
    url = page.context["download"]["url"]
    # The link names the request only: no name, phone or e-mail in it.
    for value in (NAME, PHONE, EMAIL, PHONE.lstrip("+")):
        assert value not in url
    first = client.get(url)
    assert first.status_code == 200
    assert first["Content-Type"] == "application/zip"
    assert "no-store" in first["Cache-Control"]
    assert zipfile.ZipFile(io.BytesIO(first.content)).read("subject.json")
    again = client.get(url)
    assert again.status_code == 410
    assert b"already used" in again.content


def test_a_tampered_link_is_refused_and_serves_nothing(client, world, alice, person):
    request = _request(world, alice, person)
    token = export_link_create(workspace=world.a, actor=alice, request=request, format="json")
    client.login(email=world.alice.email, password=PASSWORD)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.get(_download_url(world, request, tampered))
    assert response.status_code == 410
    assert b"not valid" in response.content
    assert NAME.encode() not in response.content
    # The untouched link still works: a forged try does not burn it.
    assert client.get(_download_url(world, request, token)).status_code == 200


def test_a_link_for_another_request_is_refused(world, alice, person):
    first = _request(world, alice, person)
    second = _request(world, alice, person)
    token = export_link_create(workspace=world.a, actor=alice, request=first, format="json")
    with pytest.raises(PrivacyActionRefused) as refused:
        export_link_redeem(workspace=world.a, actor=alice, request=second, token=token)
    assert refused.value.code == PrivacyActionRefused.LINK_INVALID


def test_an_expired_link_is_refused(world, alice, person):
    request = _request(world, alice, person)
    token = export_link_create(workspace=world.a, actor=alice, request=request, format="json")
    payload = signing.TimestampSigner(salt=_LINK_SALT).unsign_object(token)

    class SixteenMinutesAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 16 * 60)

    old = SixteenMinutesAgo(salt=_LINK_SALT).sign_object(payload)
    with pytest.raises(PrivacyActionRefused) as refused:
        export_link_redeem(workspace=world.a, actor=alice, request=request, token=old)
    assert refused.value.code == PrivacyActionRefused.LINK_EXPIRED


def test_a_newer_link_replaces_the_older_one(world, alice, person):
    request = _request(world, alice, person)
    older = export_link_create(workspace=world.a, actor=alice, request=request, format="json")
    export_link_create(workspace=world.a, actor=alice, request=request, format="zip")
    with pytest.raises(PrivacyActionRefused) as refused:
        export_link_redeem(workspace=world.a, actor=alice, request=request, token=older)
    assert refused.value.code == PrivacyActionRefused.LINK_USED


def test_the_readable_report_answers_a_post_and_is_a_sensitive_read(client, world, alice, person):
    request = _request(world, alice, person)
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse("privacy:request_report", kwargs={"slug": world.a.slug, "request_id": request.pk})
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 200
    body = response.content.decode()
    for value in (NAME, NOTE, TASK, MESSAGE_IN, CALL_NOTES):
        assert value in body
    for category in reports.CATEGORIES:
        assert f'data-category="{category}"' in body
    event = AuditEvent.objects.filter(action=AuditAction.SENSITIVE_READ).latest("seq")
    assert event.metadata["format"] == "html"
