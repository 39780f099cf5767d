"""REST API requests take API_MIDDLEWARE: the header contract, the client's language and the
key check with its rate limits, and none of the session, CSRF, sign-in, workspace, message
or htmx layers. Pages still take the whole of MIDDLEWARE."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from pytest_django.fixtures import Settings

from config import urls as project_urls
from heroshhi.core.tests.test_security_headers import EXACT_HEADERS, HSTS, REQUEST_ID
from heroshhi.leads.tests.conftest import issue_key

pytestmark = pytest.mark.django_db

# What the session, CSRF, auth, locale, messages and htmx layers and the key
# check leave on a request.
TRACES = ("session", "user", "LANGUAGE_CODE", "_messages", "htmx", "actor")

seen: list[dict[str, Any]] = []


@csrf_exempt
def probe(request: HttpRequest) -> HttpResponse:
    seen.append(
        {
            "attributes": {name for name in TRACES if hasattr(request, name)},
            "csrf_cookie_read": "CSRF_COOKIE" in request.META,
            "language": translation.get_language(),
        }
    )
    return HttpResponse("probed", content_type="text/plain")


# Test-only urlconf: a probe on each chain, plus the project's routes and handlers.
urlpatterns = [
    path("api/probe/", probe),
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


def _bearer(workspace: Any) -> dict[str, str]:
    return {"Authorization": issue_key(workspace)["HTTP_AUTHORIZATION"]}


def _browser_client() -> Client:
    """A client carrying what a signed-in browser would send along."""
    client = Client(enforce_csrf_checks=True)
    client.cookies["sessionid"] = "not-a-session"
    client.cookies["csrftoken"] = "x" * 32
    return client


def test_an_api_request_meets_no_session_csrf_auth_message_or_htmx_layer(world, probes):
    headers = _bearer(world.a)

    response = _browser_client().post(
        "/api/probe/", b"{}", content_type="application/json", headers=headers
    )

    assert response.status_code == 200
    [inside] = probes
    # The key check ran (the actor) and so did the language negotiation; nothing else.
    assert inside["attributes"] == {"actor", "LANGUAGE_CODE"}
    assert inside["csrf_cookie_read"] is False
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_an_api_request_still_speaks_the_language_the_client_asks_for(world, probes):
    headers = _bearer(world.a)

    Client().get("/api/probe/", headers={**headers, "Accept-Language": "hi"})

    assert probes[0]["language"] == "hi"


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_an_api_answer_carries_the_whole_header_contract(world, secure):
    headers = _bearer(world.a)

    response = Client().get("/api/v1/leads", secure=secure, headers=headers)

    assert response.status_code == 200
    for name, value in EXACT_HEADERS.items():
        assert response.get(name) == value, name
    assert REQUEST_ID.fullmatch(response["X-Request-ID"])
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "no-store" in response["Cache-Control"]
    assert response["X-RateLimit-Remaining"].isdigit()
    if secure:
        assert response["Strict-Transport-Security"].startswith(HSTS)


def test_api_keys_are_still_rate_limited(world, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    headers = _bearer(world.a)
    client = Client()

    answers = [client.get("/api/v1/leads", headers=headers) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"
    assert answers[2]["X-Frame-Options"] == "DENY"


def test_a_page_still_takes_the_whole_stack(probes):
    client = Client()
    client.cookies["csrftoken"] = "x" * 32

    response = client.get("/probe/")

    assert response.status_code == 200
    [inside] = probes
    assert {"session", "user", "LANGUAGE_CODE", "_messages", "htmx"} <= inside["attributes"]
