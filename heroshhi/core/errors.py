"""Error pages: HTML for people, a JSON envelope for API clients. Never a stack trace.

Both carry the request id as a reference that support can find in the logs; neither shows
anything about the user, since the error may have come from loading exactly that.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from ninja import Field, Schema

from heroshhi.core.request_context import current_request


class ErrorDetail(Schema):
    code: str = Field(description="Stable and machine-readable.")
    message: str
    fields: dict[str, list[str]] | None = Field(
        None, description="Messages per invalid field, when fields were at fault."
    )
    request_id: str | None = Field(None, description="Quote it to support.")


class ErrorEnvelope(Schema):
    """What every error response carries; documented on every operation (api/openapi.py)."""

    error: ErrorDetail


def error_response(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> JsonResponse:
    """The API's one error shape: {"error": {"code", "message", "fields"?}}."""
    error: dict[str, object] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return JsonResponse({"error": error}, status=status)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/webhooks/")) or (
        "application/json" in request.headers.get("Accept", "")
    )


def _error(request: HttpRequest, status: int, code: str, title: str, message: str) -> HttpResponse:
    meta = current_request.get()
    reference = meta.request_id if meta else None
    if _wants_json(request):
        body = {"error": {"code": code, "message": message, "request_id": reference}}
        return JsonResponse(body, status=status)
    context = {"status": status, "title": title, "message": message, "reference": reference}
    return render(request, "errors/error.html", context, status=status)


def payload_too_large_message() -> str:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    return _("The request is too large; send at most %(limit).1f MB.") % {"limit": limit_mb}


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Django turns an over-limit body into a 400; it is a 413 (too large), and says so.
    if isinstance(exception, RequestDataTooBig):
        return _error(
            request, 413, "payload_too_large", _("Too large"), payload_too_large_message()
        )
    return _error(
        request,
        400,
        "bad_request",
        _("Bad request"),
        _("The request could not be understood."),
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        403,
        "forbidden",
        _("No access"),
        _("You do not have access to this page."),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Shown when a form was posted with a missing or stale token, usually an old tab."""
    return _error(
        request,
        403,
        "csrf_failed",
        _("Form expired"),
        _("This form was open for too long. Go back, reload the page and try again."),
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error(
        request,
        404,
        "not_found",
        _("Page not found"),
        _("This page does not exist."),
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _error(
        request,
        500,
        "server_error",
        _("Something went wrong"),
        _("Something went wrong on our side. Please try again in a moment."),
    )
