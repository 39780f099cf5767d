"""Request ids and the security headers Django has no setting for (P12).

Django's own middleware sends nosniff, Referrer-Policy, COOP, HSTS (SecurityMiddleware),
X-Frame-Options (XFrameOptionsMiddleware) and CSP with a per-request nonce
(ContentSecurityPolicyMiddleware). ``SecurityHeadersMiddleware`` adds the rest and is the
backstop for responses that never passed through those inner layers, such as static files
served by WhiteNoise.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control
from django.utils.csp import CSP, build_policy

from heroshhi.core.request_context import current_request, meta_from_request

REQUEST_ID_HEADER = "X-Request-ID"
# Accepted from a proxy or client only in this shape, so that a header value can never
# inject text into log lines or carry anything but an opaque token.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{7,63}")

STATIC_HEADERS: dict[str, str] = {
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
    # The legacy XSS auditor is gone from browsers and was itself a leak; CSP replaces it.
    "X-XSS-Protection": "0",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "X-Permitted-Cross-Domain-Policies": "none",
    "X-DNS-Prefetch-Control": "off",
}

GetResponse = Callable[[HttpRequest], HttpResponseBase]


def _request_id(request: HttpRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives every request an id that logs, audit events and the response all share."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = _request_id(request)
        # Also kept on the request: Django logs 4xx responses after the middleware chain has
        # returned, when the context below is already reset, but it passes the request along.
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request.set(meta_from_request(request, request_id))
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


def _is_personal(request: HttpRequest) -> bool:
    """Whether the response was made for someone signed in, by session or by API key."""
    if "Authorization" in request.headers:
        return True
    # Static files are answered before AuthenticationMiddleware runs, so there is no user.
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def _forbid_storing(response: HttpResponseBase) -> None:
    directives = {
        part.split("=", 1)[0].strip().lower()
        for part in response.get("Cache-Control", "").split(",")
        if part.strip()
    }
    # A view that already said no-store (never_cache does) keeps its stricter header as is.
    if {"no-store", "private"} <= directives:
        return
    patch_cache_control(response, no_store=True, private=True)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        for name, value in STATIC_HEADERS.items():
            response.headers.setdefault(name, value)
        # A response that skipped the CSP and clickjacking middleware (one answered by an
        # outer layer, or a static file) still gets the site policy, minus the nonce that
        # only rendered pages use. A view's csp_override (Django's debug pages) still wins.
        policy = getattr(response, "_csp_config", settings.SECURE_CSP)
        if policy and CSP.HEADER_ENFORCE not in response:
            response[str(CSP.HEADER_ENFORCE)] = build_policy(policy)
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        if _is_personal(request):
            _forbid_storing(response)
        return response
