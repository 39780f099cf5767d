"""POST /api/v1/leads/batch: per-item results, typed errors, size limit, tenant isolation."""

from __future__ import annotations

import pytest

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services.batch import BATCH_MAX
from heroshhi.leads.tests.conftest import EMAIL, NAME, PHONE, issue_key
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/batch"


def _post(client, key, body):
    return client.post(URL, body, content_type="application/json", **key)


def test_all_created_answers_200_with_ids_in_order(client, world):
    key = issue_key(world.a)
    response = _post(
        client,
        key,
        {"items": [{"name": NAME, "phone": "98765 43210"}, {"email": EMAIL, "tags": ["vip"]}]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["deduplicated"], body["failed"]) == (2, 0, 0)
    assert [r["index"] for r in body["results"]] == [0, 1]
    with workspace_scope(world.a):
        stored = {str(pk): phone for pk, phone in Lead.objects.values_list("pk", "phone_bidx")}
    assert {r["id"] for r in body["results"]} == set(stored)
    assert all(r["status"] == "created" and r["error"] is None for r in body["results"])


def test_a_mixed_batch_answers_207_with_typed_item_errors(client, world):
    key = issue_key(world.a)
    response = _post(
        client,
        key,
        {
            "items": [
                {"name": NAME, "phone": PHONE},
                {"name": "Bad", "phone": "12345", "source": "fax"},
                {"phone": "+91 98765 43210", "email": EMAIL},
                {"name": "Staged", "stage": "00000000-0000-0000-0000-000000000000"},
            ]
        },
    )
    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["created"], body["deduplicated"], body["failed"]) == (1, 1, 2)
    first, bad, again, staged = body["results"]
    assert again == {"index": 2, "status": "deduplicated", "id": first["id"], "error": None}
    assert bad["id"] is None
    assert bad["error"]["code"] == "validation_error"
    assert set(bad["error"]["fields"]) == {"phone", "source"}
    assert "12345" not in response.content.decode()
    assert staged["error"]["fields"] == {"stage": ["Choose a valid option."]}


def test_an_oversized_or_empty_batch_is_refused_whole_with_a_typed_error(client, world):
    key = issue_key(world.a)
    items = [{"name": f"Lead {n}"} for n in range(BATCH_MAX + 1)]
    response = _post(client, key, {"items": items})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "items" in error["fields"]
    assert _post(client, key, {"items": []}).status_code == 422
    with workspace_scope(world.a):
        assert not Lead.objects.exists()


def test_an_item_with_an_unknown_key_is_refused_alone(client, world):
    key = issue_key(world.a)
    items = [{"name": "X", "owner_id": "x"}, {"name": NAME}]
    response = _post(client, key, {"items": items})
    assert response.status_code == 207, response.content
    refused, created = response.json()["results"]
    assert refused["status"] == "error"
    assert "owner_id" in refused["error"]["fields"]
    assert created["status"] == "created"
    with workspace_scope(world.a):
        assert Lead.objects.count() == 1


def test_a_sales_key_creates_but_sees_no_ids(client, world):
    key = issue_key(world.a, role=Role.SALES)
    response = _post(client, key, {"items": [{"name": NAME}, {"name": "Other"}]})
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [None, None]
    with workspace_scope(world.a):
        assert Lead.objects.count() == 2


def test_charlie_cannot_dedupe_into_alices_lead(client, world, make_lead):
    alices = make_lead(name=NAME, phone=PHONE)
    with workspace_scope(world.a):
        timeline_before = TimelineEvent.objects.count()
    response = _post(
        client,
        issue_key(world.b),
        {"items": [{"name": "Sneaky", "phone": PHONE}, {"phone": "98765 43210"}]},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "deduplicated"]
    assert results[0]["id"] != str(alices.pk)
    assert results[1]["id"] == results[0]["id"]
    with workspace_scope(world.a):
        assert TimelineEvent.objects.count() == timeline_before
        assert list(Lead.objects.values_list("pk", flat=True)) == [alices.pk]
    with workspace_scope(world.b):
        assert Lead.objects.get().name == "Sneaky"
