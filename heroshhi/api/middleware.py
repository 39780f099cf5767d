"""Authenticates /api/ requests by bearer key, sets the key's workspace scope, and applies the
per-key rate limit before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from heroshhi.accounts.services import api_key_authenticate, api_key_touch
from heroshhi.core import ratelimit
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.errors import error_response
from heroshhi.core.request_context import client_ip
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.platform_admin.selectors import workspace_is_suspended

API_PREFIX = "/api/"
TERMINATION_STATUSES = frozenset({Workspace.Status.TERMINATING, Workspace.Status.TERMINATED})


def api_limits() -> tuple[ratelimit.Limit, ratelimit.Limit]:
    per_key = ratelimit.Limit("api-key", settings.API_RATE_LIMIT_PER_MINUTE, 60)
    # Requests without a valid key are limited per client IP, which slows key guessing.
    per_ip = ratelimit.Limit("api-anon", settings.API_ANONYMOUS_RATE_LIMIT_PER_MINUTE, 60)
    return per_key, per_ip


def too_many_requests(decision: ratelimit.Decision) -> HttpResponse:
    response = error_response(429, "rate_limited", "Too many requests; retry later.")
    response["Retry-After"] = str(decision.retry_after)
    return response


def workspace_suspended() -> HttpResponse:
    return error_response(
        403, "workspace_suspended", "This workspace is suspended; its API keys are refused."
    )


class ApiKeyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        per_key, per_ip = api_limits()
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        key = api_key_authenticate(token.strip()) if scheme.lower() == "bearer" else None
        request.api_key = key  # type: ignore[attr-defined]
        if key is None:
            decision = ratelimit.hit(per_ip, client_ip(request) or "unknown")
            if not decision.allowed:
                return too_many_requests(decision)
            return self.get_response(request)
        decision = ratelimit.hit(per_key, str(key.pk))
        if not decision.allowed:
            return too_many_requests(decision)
        # A valid key of a suspended workspace is told why, not treated as a wrong key.
        if workspace_is_suspended(key.workspace):
            return workspace_suspended()
        # Termination stops the keys at once; cancelling it brings them back unchanged.
        if key.workspace.status in TERMINATION_STATUSES:
            return error_response(
                403,
                "workspace_terminating",
                "This workspace is being terminated; its API keys are refused.",
            )
        api_key_touch(key=key)
        request.workspace = key.workspace  # type: ignore[attr-defined]
        request.actor = Actor(type=ActorType.API_KEY, id=str(key.pk), role=key.role)  # type: ignore[attr-defined]
        with workspace_scope(key.workspace):
            response = self.get_response(request)
        response["X-RateLimit-Remaining"] = str(decision.remaining)
        return response
