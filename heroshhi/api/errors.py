"""The API's one error shape: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

from django.http import JsonResponse


def error_response(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> JsonResponse:
    error: dict[str, object] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return JsonResponse({"error": error}, status=status)
