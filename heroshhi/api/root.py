"""The REST API root: /api/v1/, OpenAPI at /api/v1/openapi.json."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.schema import OpenAPISchema
from ninja.security import HttpBearer

from heroshhi.accounts.api import router as accounts_router
from heroshhi.api.openapi import document_errors
from heroshhi.api.parsing import ApiParser
from heroshhi.core.errors import error_response, payload_too_large_message
from heroshhi.core.text import JsonRefused

logger = logging.getLogger(__name__)


class ApiKeyBearer(HttpBearer):
    """Documents the bearer scheme; ApiKeyMiddleware has already checked the key itself."""

    def authenticate(self, request: HttpRequest, token: str) -> object | None:
        return getattr(request, "api_key", None)


class HeroshhiAPI(NinjaAPI):
    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_errors(schema)
        return schema


api = HeroshhiAPI(
    title="Heroshhi Pro API",
    version="1",
    urls_namespace="api",
    docs_url=None,
    auth=ApiKeyBearer(),
    parser=ApiParser(),
)


def _field_errors(errors: list[dict[str, object]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]  # type: ignore[attr-defined]
        # Drop the "body"/"query" and schema-name parts: clients think in field names.
        name = ".".join(location[2:] or location[1:] or location) or "request"
        fields.setdefault(name, []).append(str(error.get("msg", "invalid")))
    return fields


@api.exception_handler(NinjaValidationError)
def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return error_response(
        422, "validation_error", "Some fields are invalid.", _field_errors(exc.errors)
    )


@api.exception_handler(DjangoValidationError)
def on_domain_validation_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    fields = (
        {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        if hasattr(exc, "error_dict")
        else {"request": [str(m) for m in exc.messages]}
    )
    return error_response(422, "validation_error", "Some fields are invalid.", fields)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = error_response(401, "unauthorized", "A valid API key is required.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(PermissionDenied)
def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(403, "forbidden", "This key may not do that.")


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


_JSON_REFUSALS = {
    "invalid_json": (400, "invalid_json", "The body is not valid JSON."),
    "too_deep": (400, "json_too_deep", "The body nests too deeply."),
    "not_an_object": (422, "validation_error", "The body must be a JSON object."),
}


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # Ninja wraps whatever the parser raised; ApiParser's refusals carry their own reason.
    if isinstance(exc.__cause__, JsonRefused):
        status, code, message = _JSON_REFUSALS[exc.__cause__.code]
        fields = {"body": [message]} if status == 422 else None
        return error_response(status, code, message, fields)
    return error_response(exc.status_code, "http_error", str(exc))


@api.exception_handler(RequestDataTooBig)
def on_body_too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(413, "payload_too_large", payload_too_large_message())


@api.exception_handler(Exception)
def on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled API error")
    return error_response(500, "server_error", "Something went wrong on our side.")


api.add_router("/", accounts_router)
api.add_router("/", "heroshhi.workspaces.api.router")
api.add_router("/workspace/export", "heroshhi.workspaces.api_export.router")
api.add_router("/leads", "heroshhi.leads.api.router")
api.add_router("/custom-fields", "heroshhi.leads.api_custom_fields.router")
api.add_router("/leads", "heroshhi.messaging.api.router")
api.add_router("/leads", "heroshhi.messaging.api_calls.router")
api.add_router("/opt-outs", "heroshhi.messaging.api_optouts.router")
api.add_router("/channels/whatsapp", "heroshhi.whatsapp.api.router")
api.add_router("/privacy-requests", "heroshhi.privacy.api.router")
api.add_router("/leads", "heroshhi.privacy.api_leads.router")
