"""/api/v1/leads: typed errors, dedupe answers, hostile bodies and tenant isolation."""

from __future__ import annotations

import pytest

from heroshhi.audit.models import AuditEvent
from heroshhi.leads.tests.conftest import EMAIL, NAME, PHONE, issue_key
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads"


@pytest.fixture
def alice_key(world):
    return issue_key(world.a)


@pytest.fixture
def charlie_key(world):
    return issue_key(world.b)


def _post(client, key, body, url=URL):
    return client.post(url, body, content_type="application/json", **key)


def test_create_answers_201_then_200_with_deduplicated(client, alice_key):
    created = _post(client, alice_key, {"name": NAME, "phone": "98765 43210", "tags": ["Hot"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["deduplicated"] is False
    assert body["lead"]["phone"] == PHONE
    assert body["lead"]["source"] == "api"
    assert body["lead"]["stage"]["name"] == "New"
    again = _post(client, alice_key, {"phone": "+91 98765 43210", "email": EMAIL})
    assert again.status_code == 200
    assert again.json()["deduplicated"] is True
    assert again.json()["lead"]["id"] == body["lead"]["id"]
    assert again.json()["lead"]["email"] == EMAIL


def test_validation_errors_are_typed_and_name_the_fields(client, alice_key):
    response = _post(client, alice_key, {"name": NAME, "phone": "12", "email": "x@"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"phone", "email"}
    assert "x@" not in response.content.decode()


def test_custom_fields_that_do_not_exist_are_refused(client, alice_key):
    response = _post(client, alice_key, {"name": NAME, "custom_fields": {"budget": 5}})
    assert response.status_code == 422
    assert "no such custom field" in response.json()["error"]["fields"]["custom_fields.budget"][0]
    assert _post(client, alice_key, {"name": NAME, "custom_fields": {}}).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"name": {"$gt": ""}},
        {"phone": ["98765", "43210"]},
        {"name": NAME, "workspace": "beta"},
        {"name": NAME, "deal_value": "lots"},
        {"name": NAME, "stage": "not-a-uuid"},
        {"name": NAME, "owner": "00000000-0000-0000-0000-000000000000"},
        {"name": NAME, "source_details": {"__proto__": "x"}},
        {"name": NAME, "tags": "hot"},
        {"name": "x" * 5000},
        [],
        "just a string",
    ],
)
def test_hostile_bodies_get_a_typed_4xx_never_a_500(client, alice_key, body):
    response = _post(client, alice_key, body)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()["error"]["code"]


def test_malformed_json_is_a_typed_4xx(client, alice_key):
    response = client.post(URL, "{not json", content_type="application/json", **alice_key)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"]


def test_list_filters_and_refuses_unknown_filters(client, alice_key):
    _post(client, alice_key, {"name": "Priya Sharma", "source": "google_ads"})
    _post(client, alice_key, {"name": "Rahul Verma"})
    listed = client.post(
        f"{URL}/search", {"q": "sharma"}, content_type="application/json", **alice_key
    )
    assert [lead["name"] for lead in listed.json()["items"]] == ["Priya Sharma"]
    by_source = client.get(URL, {"source": "google_ads"}, **alice_key).json()["items"]
    assert [lead["name"] for lead in by_source] == ["Priya Sharma"]
    for hostile in ({"name__startswith": "P"}, {"stage": "$ne"}, {"cursor": "%%%"}):
        response = client.get(URL, hostile, **alice_key)
        assert response.status_code == 422, hostile
        assert response.json()["error"]["fields"]
    repeated = client.get(f"{URL}?source=api&source=manual", **alice_key)
    assert repeated.status_code == 422


def test_retrieve_update_notes_trash_and_restore(client, alice_key):
    lead_id = _post(client, alice_key, {"name": NAME, "phone": PHONE}).json()["lead"]["id"]
    detail = client.get(f"{URL}/{lead_id}", **alice_key)
    assert detail.status_code == 200
    assert AuditEvent.objects.filter(action="sensitive_read", target_id=lead_id).exists()
    patched = client.patch(
        f"{URL}/{lead_id}", {"tags": ["vip"]}, content_type="application/json", **alice_key
    )
    assert patched.json()["tags"] == ["vip"]
    assert (
        _post(client, alice_key, {"body": "Call after 6"}, f"{URL}/{lead_id}/notes").status_code
        == 201
    )
    notes = client.get(f"{URL}/{lead_id}/notes", **alice_key).json()
    assert [note["body"] for note in notes] == ["Call after 6"]
    assert client.delete(f"{URL}/{lead_id}", **alice_key).status_code == 204
    assert client.get(f"{URL}/{lead_id}", **alice_key).status_code == 404
    assert (
        client.post(
            f"{URL}/search", {"q": PHONE}, content_type="application/json", **alice_key
        ).json()["items"]
        == []
    )
    restored = client.post(f"{URL}/{lead_id}/restore", **alice_key)
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert len(client.get(URL, **alice_key).json()["items"]) == 1


def test_charlie_gets_404_for_alices_lead_and_sees_none_in_lists(client, alice_key, charlie_key):
    lead_id = _post(client, alice_key, {"name": NAME, "phone": PHONE}).json()["lead"]["id"]
    assert client.get(f"{URL}/{lead_id}", **charlie_key).status_code == 404
    assert client.get(f"{URL}/{lead_id}/notes", **charlie_key).status_code == 404
    patched = client.patch(
        f"{URL}/{lead_id}", {"name": "x"}, content_type="application/json", **charlie_key
    )
    assert patched.status_code == 404
    assert client.delete(f"{URL}/{lead_id}", **charlie_key).status_code == 404
    assert (
        client.post(
            f"{URL}/search", {"q": PHONE}, content_type="application/json", **charlie_key
        ).json()["items"]
        == []
    )
    assert client.get(f"{URL}/not-a-uuid", **charlie_key).json()["error"]["code"] == "not_found"


def test_a_sales_key_can_create_but_sees_no_lead(client, world):
    sales_key = issue_key(world.a, role=Role.SALES)
    created = _post(client, sales_key, {"name": NAME})
    assert created.status_code == 201
    assert created.json()["lead"] is None
    assert client.get(URL, **sales_key).json()["items"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("trashed", 0), ("trashed", 1), ("trashed", "yes"), ("opted_out", "true"), ("limit", False)],
)
def test_search_takes_its_flags_and_limit_only_as_documented(
    client, world, alice_key, field, value
):
    response = _post(client, alice_key, {field: value}, url=f"{URL}/search")
    assert response.status_code == 422
    assert field in response.json()["error"]["fields"]


def test_search_terms_are_refused_in_the_url(client, world, alice_key):
    response = client.get(URL, {"q": PHONE}, **alice_key)
    assert response.status_code == 422
    assert "q" in response.json()["error"]["fields"]
