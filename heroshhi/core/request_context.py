"""Facts about the current request that deeper layers (audit, logging) need.

The middleware sets them in a ContextVar and resets them when the request ends, so a
service called from a task or a command simply sees none.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX = 256


@dataclass(frozen=True, slots=True)
class RequestMeta:
    request_id: str
    ip: str | None
    user_agent: str


current_request: ContextVar[RequestMeta | None] = ContextVar("current_request", default=None)


def client_ip(request: HttpRequest) -> str | None:
    """The client address as seen by the outermost trusted proxy.

    With N trusted proxies, the N-th address from the right of X-Forwarded-For was written
    by our own proxy; anything to its left is client-supplied and ignored.
    """
    hops = settings.TRUSTED_PROXY_COUNT
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


def meta_from_request(request: HttpRequest, request_id: str) -> RequestMeta:
    return RequestMeta(
        request_id=request_id,
        ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
    )
