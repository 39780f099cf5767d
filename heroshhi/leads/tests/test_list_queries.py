"""How many queries the lead list's first page, a phone search and a name search take,
through the API and the page, so that a query per row (or one more per request) cannot
creep back in: each count is asserted exactly and holds for 2 leads as for 12."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.leads.tests.conftest import NAME, issue_key

pytestmark = pytest.mark.django_db

PHONE = "+919876500000"
# The API: the key, the lead page, its tags, the workspace's custom fields.
API_QUERIES = 4
# The page: session, user, membership; stages, members; leads, their tags; the filter
# form's tags; the workspace menu's memberships.
PAGE_QUERIES = 9


@pytest.fixture(params=[2, 12], ids=["2 leads", "12 leads"])
def leads(request, make_lead, bob_member, django_capture_on_commit_callbacks):
    """``request.param`` leads with tags and an owner; the first has PHONE. The commit
    callbacks run as after a real commit, which caches the workspace's new keys."""
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(request.param):
            make_lead(
                name=f"{NAME} {n}",
                phone=PHONE if n == 0 else f"+9198765{n:05d}",
                tags=["hot", f"batch-{n % 3}"],
                owner=bob_member,
            )
    return request.param


def _queries(call) -> tuple[int, Any]:
    call()  # warm: a first request may save its session or create default stages
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code == 200
    return len(captured), response


def _api_search(client, key, q):
    body = json.dumps({"q": q})
    return lambda: client.post("/api/v1/leads/search", body, content_type="application/json", **key)


def test_the_api_first_page_takes_a_fixed_number_of_queries(client, world, leads):
    key = issue_key(world.a)
    count, response = _queries(lambda: client.get("/api/v1/leads", **key))
    assert len(response.json()["items"]) == leads
    assert count == API_QUERIES


@pytest.mark.parametrize("q", ["098765-00000", "priya"], ids=["phone", "name word"])
def test_an_api_search_takes_as_many_queries_as_the_first_page(client, world, leads, q):
    count, response = _queries(_api_search(client, issue_key(world.a), q))
    assert len(response.json()["items"]) == (1 if q[0].isdigit() else leads)
    assert count == API_QUERIES


@pytest.mark.parametrize(
    "q", [None, "098765-00000", "priya"], ids=["first page", "phone", "name word"]
)
def test_the_list_page_takes_a_fixed_number_of_queries(client, world, leads, q):
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse("leads:list", kwargs={"slug": world.a.slug})
    count, response = _queries(lambda: client.post(url, {"q": q}) if q else client.get(url))
    page = response.content.decode()
    shown = sum(f">{NAME} {n}</a>" in page for n in range(leads))
    assert shown == (1 if q and q[0].isdigit() else leads)
    assert count == PAGE_QUERIES
