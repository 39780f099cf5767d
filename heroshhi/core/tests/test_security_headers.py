"""The header contract (P12): every class of response, over http and https, carries it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, RequestFactory
from django.urls import path
from pytest_django.fixtures import Settings

from config import urls as project_urls
from heroshhi.accounts.models import User
from heroshhi.core.middleware import RequestIdMiddleware, SecurityHeadersMiddleware
from heroshhi.core.request_context import RequestMeta, current_request

pytestmark = pytest.mark.django_db


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a view failed")


# Test-only urlconf: the project's routes plus a view that raises, with the same handlers.
urlpatterns = [path("boom", boom), *project_urls.urlpatterns]
handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500

EXACT_HEADERS = {
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
    "X-XSS-Protection": "0",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "X-Permitted-Cross-Domain-Policies": "none",
    "X-DNS-Prefetch-Control": "off",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Sent empty, so that the web server does not name itself in its place.
    "Server": "",
}
REQUIRED_CSP = (
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)
HSTS = "max-age=31536000; includeSubDomains"
NONCE = re.compile(r"'nonce-([A-Za-z0-9_-]{16,})'")
REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    status: int
    content_type: str
    method: str = "get"
    signed_in: bool = False
    html_nonce: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    urlconf: str | None = None
    enforce_csrf: bool = False


ROUTES = [
    Route("public html", "/accounts/login/", 200, "text/html", html_nonce=True),
    Route("signed-in html", "/", 200, "text/html", signed_in=True, html_nonce=True),
    Route("json", "/healthz", 200, "application/json"),
    Route("signed-in json", "/healthz", 200, "application/json", signed_in=True),
    Route("redirect", "/", 302, "text/html"),
    Route("404 html", "/no-such-page", 404, "text/html"),
    Route("signed-in 404 html", "/no-such-page", 404, "text/html", signed_in=True),
    Route("404 json", "/api/v1/nope", 404, "application/json"),
    Route("405", "/healthz", 405, "text/html", method="post"),
    Route("403 csrf", "/accounts/login/", 403, "text/html", method="post", enforce_csrf=True),
    Route("500 html", "/boom", 500, "text/html", urlconf=__name__),
    Route(
        "500 json",
        "/boom",
        500,
        "application/json",
        headers={"Accept": "application/json"},
        urlconf=__name__,
    ),
    Route("static file", "/static/css/app.css", 200, "text/css"),
    # Webhooks take a shorter middleware chain (WEBHOOK_MIDDLEWARE) and the same contract.
    Route(
        "webhook, unknown channel",
        f"/webhooks/whatsapp/{uuid.UUID(int=0)}/",
        404,
        "text/plain",
        method="post",
    ),
    Route("webhook, unknown source", "/webhooks/nope/", 404, "application/json"),
]


def _csp_directives(policy: str) -> dict[str, str]:
    directives = {}
    for part in policy.split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value
    return directives


def _fetch(client: Client, route: Route, *, secure: bool) -> HttpResponse:
    send = getattr(client, route.method)
    return send(route.path, secure=secure, headers=route.headers)


@pytest.fixture
def member() -> User:
    return User.objects.create_user(email="member@example.test", password="a long password 1")


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_every_response_class_carries_the_header_contract(
    settings: Settings, member: User, route: Route, secure: bool
) -> None:
    if route.urlconf:
        settings.ROOT_URLCONF = route.urlconf
    client = Client(enforce_csrf_checks=route.enforce_csrf, raise_request_exception=False)
    if route.signed_in:
        client.force_login(member)

    response = _fetch(client, route, secure=secure)

    assert response.status_code == route.status
    assert response["Content-Type"].startswith(route.content_type)
    for name, value in EXACT_HEADERS.items():
        assert response.get(name) == value, name
    assert REQUEST_ID.fullmatch(response["X-Request-ID"])
    if secure:
        preload = "; preload" if settings.SECURE_HSTS_PRELOAD else ""
        assert response.get("Strict-Transport-Security") == HSTS + preload
    else:
        assert "Strict-Transport-Security" not in response

    policy = response["Content-Security-Policy"]
    for directive in REQUIRED_CSP:
        assert directive in policy, directive
    script_src = _csp_directives(policy)["script-src"]
    assert "unsafe-eval" not in script_src
    assert "unsafe-inline" not in script_src
    nonce = NONCE.search(script_src)
    if route.html_nonce:
        assert nonce, policy
        assert f'nonce="{nonce.group(1)}"' in response.content.decode()

    if route.signed_in:
        cache_control = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"no-store", "private"} <= cache_control


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_the_nonce_is_fresh_on_every_html_response(
    client: Client, member: User, signed_in: bool
) -> None:
    if signed_in:
        client.force_login(member)
    page = "/" if signed_in else "/accounts/login/"
    nonces = {
        NONCE.search(client.get(page)["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
        for _ in range(2)
    }
    assert len(nonces) == 2


@pytest.mark.parametrize("signed_in", [False, True], ids=["login", "home"])
def test_pages_use_nothing_the_policy_blocks(client: Client, member: User, signed_in: bool) -> None:
    if signed_in:
        client.force_login(member)
    response = client.get("/" if signed_in else "/accounts/login/")
    nonce = NONCE.search(response["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    html = response.content.decode()

    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "htmx and app.js are expected"
    for tag in scripts:
        assert ' src="/static/' in tag, tag
        assert f'nonce="{nonce}"' in tag, tag
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.DOTALL)
    assert not any(body.strip() for body in bodies), "inline script body"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html), "inline style attribute"
    assert "<style" not in html


def test_a_redirect_for_a_signed_in_user_is_not_stored(client: Client, member: User) -> None:
    client.force_login(member)
    response = client.get("/accounts/login/")  # signed in already: sent on to home
    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]


def _middleware_response(response: HttpResponse, request: HttpRequest) -> HttpResponse:
    return SecurityHeadersMiddleware(lambda _: response)(request)  # type: ignore[return-value]


def test_a_stricter_cache_control_is_kept_and_a_weaker_one_is_tightened(member: User) -> None:
    request = RequestFactory().get("/")
    request.user = member

    strict = HttpResponse()
    strict["Cache-Control"] = "max-age=0, no-cache, no-store, must-revalidate, private"
    assert _middleware_response(strict, request)["Cache-Control"] == (
        "max-age=0, no-cache, no-store, must-revalidate, private"
    )

    weak = HttpResponse()
    weak["Cache-Control"] = "public, max-age=600"
    directives = {
        d.strip() for d in _middleware_response(weak, request)["Cache-Control"].split(",")
    }
    assert {"no-store", "private"} <= directives
    assert "public" not in directives


def test_api_key_requests_are_not_stored_either() -> None:
    request = RequestFactory().get("/api/v1/leads", headers={"Authorization": "Bearer k"})
    response = _middleware_response(JsonResponse({}), request)
    assert "no-store" in response["Cache-Control"]


def test_anonymous_static_style_responses_keep_their_caching() -> None:
    request = RequestFactory().get("/static/css/app.css")
    cached = HttpResponse()
    cached["Cache-Control"] = "public, max-age=600"
    assert _middleware_response(cached, request)["Cache-Control"] == "public, max-age=600"


def test_a_response_that_skipped_the_inner_layers_still_gets_csp_and_frame_options() -> None:
    response = _middleware_response(HttpResponse(), RequestFactory().get("/"))
    for directive in REQUIRED_CSP:
        assert directive in response["Content-Security-Policy"]
    assert "nonce" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_a_view_that_opted_out_of_csp_is_respected() -> None:
    # Django's own debug pages do this (csp_override({})) for their inline styles.
    opted_out = HttpResponse()
    opted_out._csp_config = {}  # type: ignore[attr-defined]
    response = _middleware_response(opted_out, RequestFactory().get("/"))
    assert "Content-Security-Policy" not in response


def test_a_view_that_sets_its_own_headers_keeps_them() -> None:
    own = HttpResponse()
    own["Cross-Origin-Resource-Policy"] = "cross-origin"
    own["Content-Security-Policy"] = "default-src 'none'"
    response = _middleware_response(own, RequestFactory().get("/"))
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response["Content-Security-Policy"] == "default-src 'none'"


def test_the_tls_redirect_carries_the_contract_too(client: Client, settings: Settings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    for name, value in EXACT_HEADERS.items():
        assert response.get(name) == value, name
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


# Request ids


def _seen_by_view(headers: dict[str, str]) -> tuple[RequestMeta | None, HttpResponse]:
    seen: list[RequestMeta | None] = []

    def view(request: HttpRequest) -> HttpResponse:
        seen.append(current_request.get())
        return HttpResponse()

    request = RequestFactory().get("/", headers=headers)
    response = RequestIdMiddleware(view)(request)
    return seen[0], response  # type: ignore[return-value]


def test_a_request_id_is_generated_shared_and_reset() -> None:
    meta, response = _seen_by_view({})
    assert meta is not None
    assert REQUEST_ID.fullmatch(meta.request_id)
    assert response["X-Request-ID"] == meta.request_id
    assert current_request.get() is None


def test_a_well_formed_incoming_request_id_is_kept() -> None:
    incoming = str(uuid.uuid4())
    meta, response = _seen_by_view({"X-Request-ID": incoming})
    assert meta is not None
    assert meta.request_id == incoming
    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "short",
        "has space in it",
        "x" * 65,
        "line\nbreak-abcdef",
        "<script>alert(1)</script>",
        "-leading-dash",
    ],
)
def test_a_malformed_incoming_request_id_is_replaced(incoming: str) -> None:
    meta, response = _seen_by_view({"X-Request-ID": incoming})
    assert meta is not None
    assert REQUEST_ID.fullmatch(meta.request_id)
    assert response["X-Request-ID"] == meta.request_id


def test_the_request_context_is_reset_when_the_view_raises() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        raise RuntimeError

    with pytest.raises(RuntimeError):
        RequestIdMiddleware(view)(RequestFactory().get("/"))
    assert current_request.get() is None
