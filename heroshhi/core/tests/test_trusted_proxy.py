"""Forwarding headers count only from the declared proxies' addresses (P03)."""

from __future__ import annotations

import ipaddress

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings

from heroshhi.core.middleware import TrustedProxyMiddleware
from heroshhi.core.request_context import client_ip

pytestmark = pytest.mark.django_db

BEHIND_ONE_PROXY = {
    "TRUSTED_PROXY_COUNT": 1,
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "FORWARDED_ALLOW_NETWORKS": [ipaddress.ip_network("10.0.0.0/24")],
}
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}


def _seen(remote_addr: str) -> HttpRequest:
    seen: list[HttpRequest] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(request)
        return HttpResponse()

    request = RequestFactory().get("/", headers=FORWARDED, REMOTE_ADDR=remote_addr)
    TrustedProxyMiddleware(view)(request)
    return seen[0]


@override_settings(**BEHIND_ONE_PROXY)
def test_the_declared_proxy_is_believed():
    request = _seen("10.0.0.5")
    assert request.is_secure()
    assert client_ip(request) == "198.51.100.7"


@override_settings(**BEHIND_ONE_PROXY)
def test_anyone_else_cannot_claim_https_or_another_address():
    request = _seen("203.0.113.9")
    assert not request.is_secure()
    assert client_ip(request) == "203.0.113.9"


@override_settings(**BEHIND_ONE_PROXY)
def test_a_page_from_outside_the_proxies_gets_no_hsts_and_no_secure_redirect_loop():
    outsider = Client(REMOTE_ADDR="203.0.113.9")
    proxy = Client(REMOTE_ADDR="10.0.0.5")

    assert "Strict-Transport-Security" not in outsider.get("/healthz", headers=FORWARDED)
    assert "Strict-Transport-Security" in proxy.get("/healthz", headers=FORWARDED)


def test_without_a_declared_proxy_the_middleware_steps_out():
    from django.core.exceptions import MiddlewareNotUsed

    with pytest.raises(MiddlewareNotUsed):
        TrustedProxyMiddleware(lambda request: HttpResponse())
