"""The one way out (P01, P03): every outbound HTTP request goes through ``egress_client``.

Each request, redirects included, must pass the allow-list before a socket is opened:
``https`` to a host in ``settings.EGRESS_ALLOWED_HOSTS`` (exact names, or ``*.example.com``
for any subdomain of example.com but not example.com itself). Where
``settings.EGRESS_LOOPBACK_HTTP`` is on (development and tests; production settings refuse
it), loopback addresses are reachable over plain ``http`` too, for the local WhatsApp simulator.

TLS uses one shared client context: certificate and hostname verification on, TLS 1.3 minimum.
Libraries that are not httpx (SMTP, database drivers) take it from ``tls_client_context()``.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import ssl

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

# A purpose is a fixed label such as "whatsapp.send"; the pattern keeps ids and personal
# data, which would end up in logs, out of it.
_PURPOSE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


class EgressDenied(Exception):
    """An outbound request the policy forbids. Names the host only: URLs carry tokens."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"Outbound request to {host!r} refused: {reason}.")
        self.host = host


def build_tls_client_context(*, cafile: str | None = None) -> ssl.SSLContext:
    """A verifying TLS 1.3 client context; ``cafile`` replaces the system trust store.

    Only tests and private certificate authorities need ``cafile``; everything else shares
    ``tls_client_context()``.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


@functools.cache
def tls_client_context() -> ssl.SSLContext:
    """The process-wide client context. Shared by every client, so never modify it."""
    return build_tls_client_context()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_allowed(host: str, allowed: list[str]) -> bool:
    for entry in (item.lower() for item in allowed):
        if entry.startswith("*."):
            # Keep the dot in the suffix so "*.example.com" never matches "badexample.com".
            suffix = entry[1:]
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == entry:
            return True
    return False


def check_destination(url: httpx.URL) -> None:
    """Raise ``EgressDenied`` unless the policy lets a request go to ``url``."""
    host = url.host
    if settings.EGRESS_LOOPBACK_HTTP and url.scheme in {"http", "https"} and _is_loopback(host):
        return
    if url.scheme != "https":
        raise EgressDenied(host, f"{url.scheme or 'no'} scheme, only https is allowed")
    if not _host_allowed(host, settings.EGRESS_ALLOWED_HOSTS):
        raise EgressDenied(host, "host is not on the egress allow-list")


class _AllowListTransport(httpx.BaseTransport):
    """Checks every request at the last step before the network, so no hop can skip it."""

    def __init__(self, inner: httpx.BaseTransport, *, purpose: str) -> None:
        self._inner = inner
        self._purpose = purpose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            check_destination(request.url)
        except EgressDenied:
            logger.warning(
                "egress denied purpose=%s method=%s host=%s",
                self._purpose,
                request.method,
                request.url.host,
            )
            raise
        response = self._inner.handle_request(request)
        logger.debug(
            "egress purpose=%s method=%s host=%s status=%s",
            self._purpose,
            request.method,
            request.url.host,
            response.status_code,
        )
        return response

    def close(self) -> None:
        self._inner.close()


def _refuse_cross_host_redirect(response: httpx.Response) -> None:
    # A redirect that leaves the host is an error whether or not the caller follows it:
    # our providers never need one, and following it would carry the request elsewhere.
    if not response.has_redirect_location:
        return
    target = response.request.url.join(response.headers["Location"])
    if target.host != response.request.url.host:
        raise EgressDenied(target.host, "redirect to another host")


def _network_transport() -> httpx.BaseTransport:
    # trust_env=False: proxy variables, SSL_CERT_FILE and .netrc must not reroute or
    # re-trust our traffic behind the allow-list's back.
    return httpx.HTTPTransport(verify=tls_client_context(), trust_env=False)


def egress_client(*, purpose: str, timeout: float | None = None) -> httpx.Client:
    """An httpx client bound to the egress policy. Use it as a context manager.

    ``purpose`` is a short fixed label (``"whatsapp.send"``) that appears in the logs.
    Redirects are not followed unless a call asks for it, and never to another host.
    """
    if not _PURPOSE.fullmatch(purpose):
        raise ValueError(f"Egress purpose must match {_PURPOSE.pattern}, got {purpose!r}.")
    seconds = settings.EGRESS_TIMEOUT_SECONDS if timeout is None else timeout
    return httpx.Client(
        transport=_AllowListTransport(_network_transport(), purpose=purpose),
        timeout=httpx.Timeout(seconds),
        follow_redirects=False,
        trust_env=False,
        event_hooks={"response": [_refuse_cross_host_redirect]},
    )
