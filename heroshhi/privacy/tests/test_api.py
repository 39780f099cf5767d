"""The REST API: privacy requests and the lead sub-resources (export, erase, restrict), with
typed errors, in the three-tenant world."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import World
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.tests.conftest import EMAIL, MESSAGE_IN, NAME, Person, issue_key
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db


def _days_ago(days: float) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def _post(client, url, body=None, headers=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json", **headers)


def test_create_answers_201_with_the_due_date(client, world: World, person: Person):
    headers = issue_key(world.a)
    response = _post(
        client,
        "/api/v1/privacy-requests",
        {"type": "access", "lead": str(person.lead.pk), "channel": "email"},
        headers,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "status", "received_at", "due_at"} <= set(body)
    assert body["status"] == "open"
    assert body["channel"] == "email"
    assert body["due_at"] > body["received_at"]
    assert body["sla"] == "on_track"


def test_create_refuses_bad_input_with_the_envelope(client, world, person):
    headers = issue_key(world.a)
    bad_type = _post(
        client, "/api/v1/privacy-requests", {"type": "delete", "lead": str(person.lead.pk)}, headers
    )
    assert bad_type.status_code == 422
    assert bad_type.json()["error"]["code"] == "validation_error"
    no_scope = _post(
        client,
        "/api/v1/privacy-requests",
        {"type": "objection", "lead": str(person.lead.pk)},
        headers,
    )
    assert no_scope.status_code == 422
    assert "scope" in no_scope.json()["error"]["fields"]
    unknown = _post(
        client,
        "/api/v1/privacy-requests",
        {"type": "access", "lead": "00000000-0000-0000-0000-000000000000"},
        headers,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("received_at", "problem"),
    [
        ("2099-06-01T10:00:00+05:30", "in the future"),
        (-0.01, "in the future"),  # 15 minutes ahead: more than the clock skew
        (31, "more than 30 days ago"),
        ("2026-01-01T10:00:00", "time zone"),
    ],
)
def test_create_refuses_a_received_at_that_would_move_the_deadline(
    client, world, person, received_at, problem
):
    if isinstance(received_at, float | int):  # days ago, from the clock of the run
        received_at = _days_ago(received_at)
    response = _post(
        client,
        "/api/v1/privacy-requests",
        {"type": "access", "lead": str(person.lead.pk), "received_at": received_at},
        issue_key(world.a),
    )
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert problem in " ".join(error["fields"]["received_at"])
    with workspace_scope(world.a):
        assert not PrivacyRequest.objects.exists()


def test_create_takes_a_received_at_within_the_bounds(client, world, person):
    headers = issue_key(world.a)
    lead = str(person.lead.pk)
    for received_at in (_days_ago(29.9), _days_ago(-0.002)):  # 29.9 days back, 3 min ahead
        body = {"type": "access", "lead": lead, "received_at": received_at}
        assert _post(client, "/api/v1/privacy-requests", body, headers).status_code == 201


def test_list_filters_and_retrieve(client, world, person):
    headers = issue_key(world.a)
    lead = str(person.lead.pk)
    _post(client, "/api/v1/privacy-requests", {"type": "access", "lead": lead}, headers)
    _post(
        client,
        "/api/v1/privacy-requests",
        {"type": "restriction", "lead": lead, "received_at": _days_ago(10)},
        headers,
    )
    everything = client.get("/api/v1/privacy-requests", **headers).json()
    assert len(everything) == 2
    overdue = client.get("/api/v1/privacy-requests?overdue=true", **headers).json()
    assert [row["type"] for row in overdue] == ["restriction"]
    assert overdue[0]["sla"] == "overdue"
    access = client.get("/api/v1/privacy-requests?type=access", **headers).json()
    assert [row["type"] for row in access] == ["access"]
    bad = client.get("/api/v1/privacy-requests?status=done", **headers)
    assert bad.status_code == 422
    one = client.get(f"/api/v1/privacy-requests/{access[0]['id']}", **headers)
    assert one.status_code == 200
    assert one.json()["id"] == access[0]["id"]


def test_complete_and_reject(client, world, person):
    headers = issue_key(world.a)
    lead = str(person.lead.pk)
    rect = _post(
        client, "/api/v1/privacy-requests", {"type": "rectification", "lead": lead}, headers
    ).json()
    missing = _post(client, f"/api/v1/privacy-requests/{rect['id']}/complete", {}, headers)
    assert missing.status_code == 422
    done = _post(
        client,
        f"/api/v1/privacy-requests/{rect['id']}/complete",
        {"rectified_fields": ["email", "custom:locality"]},
        headers,
    )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "completed"
    assert done.json()["outcome"]["rectified_fields"] == ["custom:locality", "email"]
    again = _post(client, f"/api/v1/privacy-requests/{rect['id']}/complete", {}, headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "request_closed"
    other = _post(
        client, "/api/v1/privacy-requests", {"type": "erasure", "lead": lead}, headers
    ).json()
    no_reason = _post(client, f"/api/v1/privacy-requests/{other['id']}/reject", {}, headers)
    assert no_reason.status_code == 422
    rejected = _post(
        client,
        f"/api/v1/privacy-requests/{other['id']}/reject",
        {"evidence": "Could not verify who asked"},
        headers,
    )
    assert rejected.json()["status"] == "rejected"


def test_export_json_and_zip(client, world, person):
    headers = issue_key(world.a)
    url = f"/api/v1/leads/{person.lead.pk}/export"
    as_json = client.get(url, **headers)
    assert as_json.status_code == 200
    assert "no-store" in as_json["Cache-Control"]
    body = as_json.json()
    assert body["lead"]["name"] == NAME
    assert body["messages"][0]["body"] == MESSAGE_IN
    as_zip = client.get(url + "?format=zip", **headers)
    assert as_zip["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(as_zip.content))
    assert "messages.csv" in archive.namelist()
    assert client.get(url + "?format=xml", **headers).status_code == 422


def test_erase_answers_the_receipt_then_409_then_404_for_unknown(client, world, person):
    headers = issue_key(world.a)
    url = f"/api/v1/leads/{person.lead.pk}/erase"
    first = _post(client, url, None, headers)
    assert first.status_code == 200, first.content
    receipt = first.json()
    assert receipt["subject"] == str(person.lead.pk)
    assert {line["table"] for line in receipt["deleted"]} >= {"leads.Lead", "messaging.Message"}
    assert EMAIL not in first.content.decode()
    second = _post(client, url, None, headers)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "already_erased"
    unknown = _post(
        client, "/api/v1/leads/00000000-0000-0000-0000-000000000001/erase", None, headers
    )
    assert unknown.status_code == 404
    request = client.get(f"/api/v1/privacy-requests/{receipt['request']}", **headers).json()
    assert request["channel"] == "api"
    assert request["lead"] is None
    assert request["outcome"]["receipt"]["total_deleted"] == receipt["total_deleted"]


def test_restrict_and_unrestrict(client, world, person):
    headers = issue_key(world.a)
    restricted = _post(client, f"/api/v1/leads/{person.lead.pk}/restrict", None, headers)
    assert restricted.status_code == 200
    assert restricted.json()["restricted"] is True
    lifted = _post(client, f"/api/v1/leads/{person.lead.pk}/unrestrict", None, headers)
    assert lifted.json()["restricted"] is False
    assert lifted.json()["lifted_at"] is not None


def test_sales_keys_get_403_everywhere(client, world, person):
    headers = issue_key(world.a, role=Role.SALES)
    lead = person.lead.pk
    assert client.get("/api/v1/privacy-requests", **headers).status_code == 403
    assert (
        _post(client, "/api/v1/privacy-requests", {"type": "access", "lead": str(lead)}, headers)
    ).status_code == 403
    assert client.get(f"/api/v1/leads/{lead}/export", **headers).status_code == 403
    assert _post(client, f"/api/v1/leads/{lead}/erase", None, headers).status_code == 403
    assert _post(client, f"/api/v1/leads/{lead}/restrict", None, headers).status_code == 403
    response = _post(client, f"/api/v1/leads/{lead}/erase", None, headers)
    assert response.json()["error"]["code"] == "forbidden"
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=lead).exists()


def test_managers_handle_privacy_requests(client, world, person):
    headers = issue_key(world.a, role=Role.MANAGER)
    response = _post(
        client,
        "/api/v1/privacy-requests",
        {"type": "access", "lead": str(person.lead.pk)},
        headers,
    )
    assert response.status_code == 201


def test_charlie_gets_404_on_alices_requests_and_leads(client, world, alice: Actor, person):
    alice_headers = issue_key(world.a)
    created = _post(
        client,
        "/api/v1/privacy-requests",
        {"type": "access", "lead": str(person.lead.pk)},
        alice_headers,
    ).json()
    headers = issue_key(world.b)
    lead = person.lead.pk
    assert client.get(f"/api/v1/privacy-requests/{created['id']}", **headers).status_code == 404
    assert (
        _post(
            client, f"/api/v1/privacy-requests/{created['id']}/reject", {"evidence": "x"}, headers
        )
    ).status_code == 404
    assert (
        _post(client, "/api/v1/privacy-requests", {"type": "access", "lead": str(lead)}, headers)
    ).status_code == 404
    assert client.get(f"/api/v1/leads/{lead}/export", **headers).status_code == 404
    assert _post(client, f"/api/v1/leads/{lead}/erase", None, headers).status_code == 404
    assert _post(client, f"/api/v1/leads/{lead}/restrict", None, headers).status_code == 404
    assert client.get("/api/v1/privacy-requests", **headers).json() == []
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=lead).exists()
        assert PrivacyRequest.objects.get(pk=created["id"]).status == "open"


def test_the_list_costs_the_same_queries_for_few_or_many(client, world, person):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = issue_key(world.a)
    body = {"type": "access", "lead": str(person.lead.pk)}

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/privacy-requests", **headers).status_code == 200
        return len(captured)

    _post(client, "/api/v1/privacy-requests", body, headers)
    few = queries()
    for _ in range(5):
        _post(client, "/api/v1/privacy-requests", body, headers)
    assert queries() == few
