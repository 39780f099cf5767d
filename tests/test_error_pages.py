"""Error pages: our layout, a support reference, nothing about the user, no stack trace."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import path

from config import urls as project_urls
from heroshhi.accounts.models import User
from heroshhi.core import errors

pytestmark = pytest.mark.django_db

EMAIL = "owner@shop.example"


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret detail from deep inside")


urlpatterns = [path("boom", boom), *project_urls.urlpatterns]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


@pytest.fixture
def signed_in(client: Client) -> Client:
    client.force_login(User.objects.create_user(email=EMAIL, password="a long password 1"))
    return client


def test_a_missing_page_shows_the_reference_and_not_the_user(signed_in: Client) -> None:
    response = signed_in.get("/no-such-page")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html
    assert response["X-Request-ID"] in html
    assert EMAIL not in html
    assert "<script" not in html


def test_an_api_client_gets_the_json_envelope(client: Client) -> None:
    response = client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "This page does not exist.",
            "request_id": response["X-Request-ID"],
        }
    }


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_a_crash_never_shows_its_trace(signed_in: Client, accept: str) -> None:
    signed_in.raise_request_exception = False
    response = signed_in.get("/boom", headers={"Accept": accept})
    body = response.content.decode()
    assert response.status_code == 500
    assert response["X-Request-ID"] in body
    assert "secret detail" not in body
    assert "Traceback" not in body
    assert EMAIL not in body


def test_a_stale_form_gets_a_page_that_says_what_to_do(rf: RequestFactory) -> None:
    response = errors.csrf_failure(rf.post("/accounts/login/"), reason="CSRF token missing.")
    html = response.content.decode()
    assert response.status_code == 403
    assert "Form expired" in html
    assert "reload the page" in html
    assert "CSRF token missing" not in html
