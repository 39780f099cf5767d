"""Request ids, the security headers Django has no setting for (P12), and the shorter
middleware chain of inbound webhooks.

Django's own middleware sends nosniff, Referrer-Policy, COOP, HSTS (SecurityMiddleware),
X-Frame-Options (XFrameOptionsMiddleware) and CSP with a per-request nonce
(ContentSecurityPolicyMiddleware). ``SecurityHeadersMiddleware`` adds the rest and is the
backstop for responses that never passed through those inner layers, such as static files
served by WhiteNoise.

``WebhookChainMiddleware`` sits at the top of ``MIDDLEWARE`` and sends every request under
``/webhooks/`` through ``WEBHOOK_MIDDLEWARE`` instead: request ids, every header of the
contract and the host check, but no sessions, CSRF, sign-in, workspaces, messages, locale
or htmx, which a machine posting signed bodies never uses and which cost CPU on the
acknowledgement Meta waits for (ADR 0010). Rate limits are the views' own, so they apply
on either chain.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponseBase
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.csp import CSP, build_policy
from django.utils.module_loading import import_string

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
    # The web server names itself unless the app sends this header; empty, it names nothing.
    "Server": "",
}

GetResponse = Callable[[HttpRequest], HttpResponseBase]

# Every inbound source has its endpoints here (/webhooks/whatsapp/..., /webhooks/<kind>/...).
WEBHOOK_PATH_PREFIX = "/webhooks/"
# Hooks that Django's handler, not the middleware's own __call__, would run.
_HANDLER_HOOKS = ("process_view", "process_template_response", "process_exception")


def _request_id(request: HttpRequest) -> str:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    if REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


# What a trusted proxy writes and the app believes: the scheme (SECURE_PROXY_SSL_HEADER)
# and the client address (request_context.client_ip).
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_FOR")


class TrustedProxyMiddleware:
    """With proxies declared (``HEROSHHI_TRUSTED_PROXY_COUNT``), their forwarding headers
    count only when the connection comes from one of them (``HEROSHHI_FORWARDED_ALLOW_IPS``):
    from any other address the headers are dropped before anything reads them, so a client
    that reaches the app port directly cannot claim https or another address. With no proxy
    declared nothing believes those headers, and this middleware steps out of the chain."""

    def __init__(self, get_response: GetResponse) -> None:
        if not settings.TRUSTED_PROXY_COUNT:
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.networks = settings.FORWARDED_ALLOW_NETWORKS

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not self._from_proxy(request.META.get("REMOTE_ADDR", "")):
            for name in FORWARDED_HEADERS:
                request.META.pop(name, None)
        return self.get_response(request)

    def _from_proxy(self, address: str) -> bool:
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in self.networks)


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


class WebhookHandler(BaseHandler):
    """Django's request handler (URL resolution, the view, error responses) inside the
    chain of ``settings.WEBHOOK_MIDDLEWARE`` (a subclass names another list in ``setting``).

    Middleware here may only act in ``__call__`` (``process_request`` and
    ``process_response`` of Django's mixin run there too): the hooks the handler runs on
    behalf of middleware, such as CSRF's ``process_view``, are refused at start rather than
    silently skipped.
    """

    setting = "WEBHOOK_MIDDLEWARE"

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("The webhook chain is synchronous (WSGI).")
        # The lists BaseHandler fills from middleware hooks stay empty (see above).
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        # Django's own innermost step (resolve, call the view), which the stubs leave out.
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        for path in reversed(getattr(settings, self.setting)):
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            hooks = [hook for hook in _HANDLER_HOOKS if hasattr(instance, hook)]
            if hooks:
                raise ImproperlyConfigured(
                    f"{path} has {', '.join(hooks)}, which {self.setting} cannot run."
                )
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler  # what get_response() calls


class WebhookChainMiddleware:
    """Sends ``/webhooks/`` requests through ``WEBHOOK_MIDDLEWARE``, the rest on through
    ``MIDDLEWARE``. First in ``MIDDLEWARE``, so a webhook meets none of the others."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.webhooks = WebhookHandler()
        self.webhooks.load_middleware()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(WEBHOOK_PATH_PREFIX):
            return self.get_response(request)
        # No LocaleMiddleware here: the site's language, never one a page request left
        # active on this thread.
        with translation.override(settings.LANGUAGE_CODE):
            return self.webhooks.get_response(request)
