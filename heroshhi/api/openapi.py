"""The error half of the OpenAPI document, added in one place so no operation can forget it.

Every error the API answers has one shape (``core.errors.error_response``); which statuses an
operation documents follows from what can produce them: the middleware (401, 403, 429) on
every operation, a path id (404), parameters or a body (422), a body (400, 413), and any
status the operation declares itself (409 where a rule can refuse it).
"""

from __future__ import annotations

from typing import Any

from heroshhi.core.errors import ErrorEnvelope

ERROR_DESCRIPTIONS = {
    400: "The request could not be read (for example a body that is not JSON).",
    401: "No valid API key (`Authorization: Bearer <key>`).",
    403: "The key's role may not do this, or its workspace is suspended or terminating.",
    404: "No such resource in this key's workspace, or not visible to its role.",
    409: "A rule of the resource's current state refuses it.",
    413: "The request body is too large.",
    422: "Some fields are invalid; `error.fields` names them.",
    429: "Too many requests; retry after `Retry-After` seconds.",
}

_ALWAYS = (401, 403, 429)
_OPERATION_KEYS = frozenset({"get", "put", "post", "patch", "delete"})


def error_statuses(operation: dict[str, Any]) -> set[int]:
    """What this operation can answer besides success, from its shape and its own claims."""
    statuses = set(_ALWAYS)
    parameters = operation.get("parameters", [])
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.update({400, 413})
    declared = (int(code) for code in operation.get("responses", {}) if str(code).isdigit())
    statuses.update(code for code in declared if code >= 400)
    return statuses


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the envelope and each operation's error responses to a generated schema."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(envelope.pop("$defs", {}))
    components[ErrorEnvelope.__name__] = envelope
    reference = {"$ref": f"#/components/schemas/{ErrorEnvelope.__name__}"}
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in _OPERATION_KEYS:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(operation)):
                # ninja keys responses by int; a str key beside it would repeat the status.
                responses.pop(str(status), None)
                responses[status] = {
                    "description": ERROR_DESCRIPTIONS.get(status, "Error."),
                    "content": {"application/json": {"schema": reference}},
                }
    return schema
