"""Bad input never gives a 5xx (ADR 0016): control characters, over-long strings, oversized,
broken, deep or non-object bodies end in 4xx in the error envelope, naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import override_settings

from heroshhi.api.root import api
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db
NUL = "Priya\x00Sharma"
SOME_ID = "00000000-0000-4000-8000-000000000000"
CHANNEL = {
    "phone_number_id": "1234567890",
    "waba_id": "1234567891",
    "display_phone_number": "+91 98765 43210",
    "access_token": "EAAtoken",
    "app_secret": "secret",
    "verify_token": "verify",
}


@pytest.fixture
def key(world) -> dict[str, str]:
    return issue_key(world.a)


def _send(client, key, verb: str, path: str, body: Any = None, **query: str):
    if body is None:
        return getattr(client, verb)(path, query, **key)
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(client, verb)(path, raw, content_type="application/json", **key)


def _refused(response, field: str) -> None:
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"], error
    assert "\x00" not in response.content.decode()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/api/v1/leads", {"name": "Priya", "tags": [NUL]}, "tags"),
        ("post", "/api/v1/leads/search", {"tag": NUL}, "tag"),
        ("post", "/api/v1/leads/search", {"q": NUL}, "q"),
        ("post", "/api/v1/api-keys", {"name": NUL, "role": "sales"}, "name"),
        ("post", "/api/v1/custom-fields", {"label": NUL, "kind": "text"}, "label"),
        (
            "post",
            "/api/v1/custom-fields",
            {"label": "Size", "kind": "choice", "choices": ["S", NUL]},
            "choices",
        ),
        ("post", "/api/v1/channels/whatsapp", {**CHANNEL, "label": NUL}, "label"),
        ("post", "/api/v1/channels/whatsapp", {**CHANNEL, "access_token": NUL}, "access_token"),
        # Encrypted columns follow the same rule as plain ones.
        ("post", "/api/v1/leads", {"name": NUL}, "name"),
        ("post", "/api/v1/leads", {"email": "priya\x00@example.in"}, "email"),
        ("post", "/api/v1/leads", {"phone": "+91987654\x003210"}, "phone"),
    ],
)
def test_a_nul_in_a_body_field_is_refused_naming_it(client, key, method, path, body, field):
    _refused(_send(client, key, method, path, body), field)


def test_a_nul_tag_on_update_is_refused(client, key, world):
    owner = Actor.user(world.alice.pk, role=Role.OWNER)
    lead = lead_create(
        workspace=world.a, actor=owner, name="Priya", phone=None, email=None, source="manual"
    ).lead
    _refused(_send(client, key, "patch", f"/api/v1/leads/{lead.pk}", {"tags": [NUL]}), "tags")


@pytest.mark.parametrize("path", ["/api/v1/leads", "/api/v1/leads/export.csv"])
def test_a_nul_in_a_list_filter_is_refused_naming_it(client, key, path):
    _refused(_send(client, key, "get", path, tag=NUL), "tag")


def test_a_nul_in_a_query_key_is_refused_without_echoing_it(client, key):
    _refused(client.get("/api/v1/leads", {"ta\x00g": "vip"}, **key), "query")


@pytest.mark.parametrize("character", ["\x01", "\x1b", "\x7f", "\x85", "\ud800"])
def test_every_refused_control_character_is_refused(client, key, character):
    body = json.dumps({"name": f"Priya{character}"})  # json escapes the lone surrogate
    _refused(_send(client, key, "post", "/api/v1/leads", body), "name")


def test_tab_and_line_breaks_are_text(client, key):
    body = {"name": "Priya", "description": "line one\r\nline two\tend"}
    response = _send(client, key, "post", "/api/v1/leads", body)
    assert response.status_code == 201, response.content


def test_one_bad_item_in_a_batch_is_reported_and_the_others_are_stored_once(client, key, world):
    items = [
        {"name": "Asha", "tags": ["vip"]},
        {"name": "Ravi", "tags": [NUL]},
        {"name": "Meena", "description": "x" * 6000},
        {"name": "Kiran", "phone": "+919876543210"},
    ]
    response = _send(client, key, "post", "/api/v1/leads/batch", {"items": items})
    assert response.status_code == 207, response.content
    body = response.json()
    assert (body["created"], body["failed"]) == (2, 2)
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "created"), (1, "error"), (2, "error"), (3, "created")]
    assert "tags" in body["results"][1]["error"]["fields"]
    assert "description" in body["results"][2]["error"]["fields"]
    with workspace_scope(world.a):
        assert sorted(lead.name for lead in Lead.objects.all()) == ["Asha", "Kiran"]


# Sweeps over the OpenAPI: a field added later cannot forget the rule.


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            concrete = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    concrete = concrete.replace("{" + parameter["name"] + "}", SOME_ID)
            found.append((method, concrete, operation))
    return found


def _components() -> dict[str, Any]:
    return api.get_openapi_schema(path_prefix="/api/v1/")["components"]["schemas"]


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return schema.get("anyOf", [schema])


def _text_value(schema: dict[str, Any], text: str) -> Any:
    """A value for a property that carries ``text`` where the property holds strings."""
    for variant in _variants(schema):
        if variant.get("type") == "string" and "enum" not in variant:
            return text
        if variant.get("type") == "array" and variant.get("items", {}).get("type") == "string":
            return [text]
        if variant.get("type") == "object" and variant.get("additionalProperties") is not False:
            return {"key": text}
    return None


def _body_cases() -> list[tuple[str, str, str, Any]]:
    components = _components()
    cases = []
    for method, path, operation in _operations():
        body = operation.get("requestBody")
        if body is None:
            continue
        ref = body["content"]["application/json"]["schema"]["$ref"]
        properties = components[ref.rsplit("/", 1)[1]]["properties"]
        for name, schema in properties.items():
            if _text_value(schema, NUL) is not None:
                cases.append((method, path, name, schema))
    return cases


def _query_cases() -> list[tuple[str, str]]:
    return [
        (path, parameter["name"])
        for method, path, operation in _operations()
        if method == "get"
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


@pytest.mark.parametrize(("method", "path", "name", "schema"), _body_cases())
def test_every_body_text_field_refuses_a_nul(client, key, method, path, name, schema):
    if path == "/api/v1/leads/batch":
        return  # items are checked one by one: the batch test above
    _refused(_send(client, key, method, path, {name: _text_value(schema, NUL)}), name)


def test_every_batch_item_text_field_refuses_a_nul(client, key):
    item_schema = _components()["LeadBatchIn"]["properties"]["items"]["items"]
    for name, schema in item_schema["properties"].items():
        value = _text_value(schema, NUL)
        if value is None:
            continue
        body = {"items": [{name: value}]}
        response = _send(client, key, "post", "/api/v1/leads/batch", body)
        assert response.status_code == 207, (name, response.content)
        assert name in response.json()["results"][0]["error"]["fields"], name


@pytest.mark.parametrize(("path", "name"), _query_cases())
def test_every_query_parameter_refuses_a_nul(client, key, path, name):
    _refused(_send(client, key, "get", path, **{name: NUL}), name)


def _bounded(schema: dict[str, Any]) -> bool:
    for variant in _variants(schema):
        if variant.get("type") == "string" and not (
            {"maxLength", "enum", "format", "const"} & set(variant)
        ):
            return False
        if variant.get("type") == "array" and not (
            "maxItems" in variant and _bounded(variant.get("items", {}))
        ):
            return False
    return True


def test_every_body_string_is_bounded_in_the_schema():
    components = _components()
    unbounded = [
        (path, name)
        for _, path, operation in _operations()
        if "requestBody" in operation
        for name, schema in components[
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit(
                "/", 1
            )[1]
        ]["properties"].items()
        if not _bounded(schema)
    ]
    assert unbounded == [], "\n".join(f"{path} {name}" for path, name in unbounded)


@pytest.mark.parametrize(("method", "path", "name", "schema"), _body_cases())
def test_every_over_long_body_string_is_a_4xx(client, key, method, path, name, schema):
    value = _text_value(schema, "x" * 100_000)
    body = {"items": [{name: value}]} if path.endswith("/batch") else {name: value}
    response = _send(client, key, method, path, body)
    assert response.status_code < 500, response.content


# Bodies the API cannot read.


@pytest.mark.parametrize("body", ["false", "0", "1.5", '"text"', "[]", "null", '[{"q": "a"}]'])
def test_a_body_that_is_not_an_object_is_refused(client, key, body):
    response = _send(client, key, "post", "/api/v1/leads/search", body)
    _refused(response, "body")


def test_a_body_that_is_not_json_is_a_400(client, key):
    response = _send(client, key, "post", "/api/v1/leads/search", '{"q": ')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_body_nested_too_deep_is_a_400(client, key, depth):
    body = '{"q": ' + "[" * depth + "]" * depth + "}"
    response = _send(client, key, "post", "/api/v1/leads/search", body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_too_deep"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_api_body_is_a_413_in_the_envelope(client, key):
    body = {"name": "Priya", "description": "x" * 2000}
    response = _send(client, key, "post", "/api/v1/leads", body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_form_post_is_a_413_page(client, world):
    client.force_login(world.alice)
    response = client.post(f"/w/{world.a.slug}/leads/new/", {"name": "x" * 2000})
    assert response.status_code == 413
    assert b"Too large" in response.content


def _path_cases() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    cases = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if any(p["in"] == "path" for p in operation.get("parameters", [])):
                cases.append((method, path.replace("{", "").replace("}", "")))
    return cases


@pytest.mark.parametrize(("method", "template"), _path_cases())
def test_a_nul_in_a_path_id_is_a_4xx(client, key, method, template):
    path = "/".join("%00" if part.endswith("_id") else part for part in template.split("/"))
    response = _send(client, key, method, path, {} if method in {"post", "patch"} else None)
    assert 400 <= response.status_code < 500, response.content
