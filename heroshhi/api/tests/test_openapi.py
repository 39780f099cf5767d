"""The OpenAPI document says how to authenticate and what each operation can answer."""

import pytest

pytestmark = pytest.mark.django_db
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def _operations(client):
    document = client.get("/api/v1/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_operation_names_the_bearer_scheme(client):
    document = client.get("/api/v1/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes == {"ApiKeyBearer": {"type": "http", "scheme": "bearer"}}
    missing = [
        name for name, op in _operations(client) if op.get("security") != [{"ApiKeyBearer": []}]
    ]
    assert missing == []


def _documented(operation) -> set[int]:
    return {
        int(status)
        for status, response in operation["responses"].items()
        if response.get("content", {}).get("application/json", {}).get("schema") == ENVELOPE
    }


def test_every_operation_documents_its_errors_with_the_envelope(client):
    wrong = {}
    for name, operation in _operations(client):
        expected = {401, 403, 429}
        if "{" in name:
            expected.add(404)
        if "requestBody" in operation:
            expected |= {400, 413, 422}
        if not expected <= _documented(operation):
            wrong[name] = sorted(expected - _documented(operation))
    assert wrong == {}


@pytest.mark.parametrize(
    "operation_name",
    [
        "POST /api/v1/leads/{lead_id}/messages",
        "GET /api/v1/workspace/export/{export_id}/file",
        "POST /api/v1/privacy-requests/{request_id}/complete",
        "POST /api/v1/leads/{lead_id}/erase",
        "PATCH /api/v1/members/{member_id}",
    ],
)
def test_operations_a_rule_can_refuse_document_409(client, operation_name):
    operations = dict(_operations(client))
    assert 409 in _documented(operations[operation_name])


def test_operations_without_input_do_not_claim_validation_errors(client):
    operations = dict(_operations(client))
    assert 422 not in _documented(operations["GET /api/v1/me"])
    assert 404 not in _documented(operations["GET /api/v1/me"])


def test_file_downloads_document_their_media_type(client):
    operations = dict(_operations(client))
    assert "text/csv" in operations["GET /api/v1/leads/export.csv"]["responses"]["200"]["content"]
    download = operations["GET /api/v1/workspace/export/{export_id}/file"]["responses"]["200"]
    assert "application/zip" in download["content"]
