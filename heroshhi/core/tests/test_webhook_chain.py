"""Inbound webhooks take WEBHOOK_MIDDLEWARE: the header contract and the rate limit, nothing
a browser session needs. Every other path still takes the whole of MIDDLEWARE."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from pytest_django.fixtures import Settings

from config import urls as project_urls
from heroshhi.core.middleware import WebhookChainMiddleware
from heroshhi.core.tests.test_security_headers import (
    EXACT_HEADERS,
    HSTS,
    REQUEST_ID,
    REQUIRED_CSP,
)
from heroshhi.whatsapp.tests.webhook_support import encode, envelope, make_channel, sign

pytestmark = pytest.mark.django_db

# What the session, CSRF, auth, locale, messages and htmx layers leave on a request.
STACK_TRACES = ("session", "user", "LANGUAGE_CODE", "_messages", "htmx", "actor")

seen: list[dict[str, Any]] = []


@csrf_exempt
def probe(request: HttpRequest) -> HttpResponse:
    seen.append(
        {
            "attributes": {name for name in STACK_TRACES if hasattr(request, name)},
            "csrf_cookie_read": "CSRF_COOKIE" in request.META,
            "language": translation.get_language(),
        }
    )
    return HttpResponse("probed", content_type="text/plain")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a webhook view failed")


# Test-only urlconf: probes on both chains, plus the project's routes and handlers.
urlpatterns = [
    path("webhooks/probe/", probe),
    path("webhooks/boom/", boom),
    path("probe/", probe),
    *project_urls.urlpatterns,
]
handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@pytest.fixture
def probes(settings: Settings) -> list[dict[str, Any]]:
    settings.ROOT_URLCONF = __name__
    seen.clear()
    return seen


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate-limit counters
    yield
    cache.clear()


def _assert_contract(response: Any, *, secure: bool) -> None:
    for name, value in EXACT_HEADERS.items():
        assert response.get(name) == value, name
    assert REQUEST_ID.fullmatch(response["X-Request-ID"])
    for directive in REQUIRED_CSP:
        assert directive in response["Content-Security-Policy"], directive
    if secure:
        assert response["Strict-Transport-Security"].startswith(HSTS)
    else:
        assert "Strict-Transport-Security" not in response


def _signed_post(client: Client, channel: Any, *, secure: bool = False) -> Any:
    body = encode(envelope([]))
    return client.post(
        f"/webhooks/whatsapp/{channel.pk}/",
        body,
        content_type="application/json",
        secure=secure,
        headers={"X-Hub-Signature-256": sign(body)},
    )


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_a_webhook_acknowledgement_carries_the_whole_header_contract(world, secure):
    channel = make_channel(world.a)

    response = _signed_post(Client(), channel, secure=secure)

    assert response.status_code == 200
    _assert_contract(response, secure=secure)


def test_a_webhook_sets_no_cookie_and_varies_on_nothing_a_browser_sends(world):
    client = Client()
    client.cookies["sessionid"] = "not-a-session"
    client.cookies["csrftoken"] = "x" * 32

    response = _signed_post(client, make_channel(world.a))

    assert response.status_code == 200
    assert not response.cookies
    assert "Vary" not in response
    assert "Content-Language" not in response


def test_webhooks_are_rate_limited_as_before(world, settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 2
    channel = make_channel(world.a)
    client = Client()

    answers = [_signed_post(client, channel) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert int(answers[2]["Retry-After"]) > 0
    _assert_contract(answers[2], secure=False)


def test_a_webhook_meets_no_session_csrf_auth_locale_message_or_htmx_layer(probes):
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "not-a-session"
    client.cookies["csrftoken"] = "x" * 32

    response = client.post("/webhooks/probe/", b"{}", content_type="application/json")

    assert response.status_code == 200
    _assert_contract(response, secure=False)
    [inside] = probes
    assert inside["attributes"] == set()
    assert inside["csrf_cookie_read"] is False


def test_a_webhook_runs_in_the_site_language_whatever_the_thread_served_before(probes):
    with translation.override("hi"):
        Client().post("/webhooks/probe/", b"{}", content_type="application/json")
        after = translation.get_language()

    assert probes[0]["language"] == "en"
    assert after == "hi"


def test_a_page_still_takes_the_whole_stack(probes):
    client = Client()
    client.cookies["csrftoken"] = "x" * 32

    response = client.get("/probe/")

    assert response.status_code == 200
    _assert_contract(response, secure=False)
    [inside] = probes
    assert inside["attributes"] == {"session", "user", "LANGUAGE_CODE", "_messages", "htmx"}
    assert inside["csrf_cookie_read"] is True


def test_a_future_source_under_the_prefix_takes_the_webhook_chain(probes):
    response = Client().post("/webhooks/sheets/abc/", b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
    _assert_contract(response, secure=False)
    assert not response.cookies


def test_a_failing_webhook_view_is_a_json_500_with_the_contract(probes):
    client = Client(raise_request_exception=False)

    response = client.post("/webhooks/boom/", b"{}", content_type="application/json")

    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    _assert_contract(response, secure=False)


def test_a_middleware_with_handler_hooks_is_refused_for_the_webhook_chain(settings):
    settings.WEBHOOK_MIDDLEWARE = [
        *settings.WEBHOOK_MIDDLEWARE,
        "django.middleware.csrf.CsrfViewMiddleware",
    ]

    with pytest.raises(ImproperlyConfigured, match="process_view"):
        WebhookChainMiddleware(lambda request: HttpResponse())
