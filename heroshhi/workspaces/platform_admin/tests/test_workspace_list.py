"""The business-accounts list: facts and counts per workspace, filters, keyset pages."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from heroshhi.accounts.models import ApiKey
from heroshhi.accounts.services import api_key_revoke
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.platform_admin import selectors
from heroshhi.workspaces.platform_admin.selectors import UsageCounter
from heroshhi.workspaces.platform_admin.services import workspace_suspend
from heroshhi.workspaces.platform_admin.tests.helpers import issue_key
from heroshhi.workspaces.services import workspace_create

LIST = reverse("platform:workspaces")


def _rows(response) -> dict[str, dict[str, int]]:
    return {row.workspace.slug: row.usage for row in response.context["page"].rows}


def _more_workspaces(count: int, owner) -> list[Workspace]:
    return [
        workspace_create(actor=Actor.system(), name=f"Extra {n}", slug=f"extra-{n}", owner=owner)
        for n in range(count)
    ]


def test_staff_see_each_workspace_with_plan_status_and_usage(staff_client: Client, world):
    issue_key(world.a, "one")
    issue_key(world.a, "two")
    with workspace_scope(world.a):
        revoked = ApiKey.objects.get(name="two")
    api_key_revoke(workspace=world.a, actor=Actor.user("setup", role=Role.OWNER), key=revoked)

    response = staff_client.get(LIST)

    assert response.status_code == 200
    assert _rows(response) == {
        "alpha": {"members": 2, "api_keys": 1},  # Alice and Bob; the revoked key is not counted
        "beta": {"members": 1, "api_keys": 0},
    }
    html = response.content.decode()
    for text in ("Alpha Traders", "Beta Exports", "alpha", "trial", "Active"):
        assert text in html


def test_the_list_filters_by_status(staff_client: Client, world, operator):
    workspace_suspend(workspace=world.b, actor=operator, reason="billing")

    assert set(_rows(staff_client.get(LIST, {"status": "suspended"}))) == {"beta"}
    assert set(_rows(staff_client.get(LIST, {"status": "active"}))) == {"alpha"}
    assert set(_rows(staff_client.get(LIST))) == {"alpha", "beta"}


def test_an_unknown_status_filter_is_ignored_not_an_error(staff_client: Client, world):
    response = staff_client.get(LIST, {"status": "deleted"})
    assert response.status_code == 200
    assert set(_rows(response)) == {"alpha", "beta"}


def test_search_matches_workspace_name_or_slug(staff_client: Client, world):
    assert set(_rows(staff_client.get(LIST, {"q": "traders"}))) == {"alpha"}
    assert set(_rows(staff_client.get(LIST, {"q": "BET"}))) == {"beta"}


def test_search_never_reaches_the_people_inside_a_workspace(staff_client: Client, world):
    for term in (world.alice.email, "a.example", world.bob.full_name):
        assert _rows(staff_client.get(LIST, {"q": term})) == {}, term


def test_keyset_pages_walk_every_workspace_once_newest_first(
    staff_client: Client, world, monkeypatch
):
    extra = _more_workspaces(3, world.alice)
    monkeypatch.setattr(selectors, "WORKSPACE_PAGE", 2)
    seen: list[str] = []
    params: dict[str, str] = {}
    for _ in range(5):
        response = staff_client.get(LIST, params)
        page = response.context["page"]
        seen += [row.workspace.slug for row in page.rows]
        if page.next_after is None:
            break
        assert "Next page" in response.content.decode()
        params = {"after": str(page.next_after)}
    expected = Workspace.objects.order_by("-created_at", "-pk").values_list("slug", flat=True)
    assert seen == list(expected)
    assert len(seen) == 2 + len(extra)


def test_pages_keep_the_filter(staff_client: Client, world, monkeypatch):
    _more_workspaces(3, world.alice)
    monkeypatch.setattr(selectors, "WORKSPACE_PAGE", 2)
    first = staff_client.get(LIST, {"q": "extra"})
    after = first.context["page"].next_after
    second = staff_client.get(LIST, {"q": "extra", "after": str(after)})
    slugs = set(_rows(first)) | set(_rows(second))
    assert slugs == {"extra-0", "extra-1", "extra-2"}


def test_a_bad_cursor_starts_from_the_top(staff_client: Client, world):
    for after in ("not-a-uuid", "00000000-0000-4000-8000-000000000000"):
        assert set(_rows(staff_client.get(LIST, {"after": after}))) == {"alpha", "beta"}


def test_the_list_costs_the_same_number_of_queries_for_more_workspaces(staff_client: Client, world):
    staff_client.get(LIST)  # warm the session and the user
    with CaptureQueriesContext(connection) as few:
        staff_client.get(LIST)
    _more_workspaces(6, world.alice)
    with CaptureQueriesContext(connection) as many:
        staff_client.get(LIST)
    assert len(many) == len(few)


def test_a_page_of_workspaces_is_one_query_plus_one_per_usage_counter(
    world, django_assert_num_queries
):
    _more_workspaces(3, world.alice)
    with django_assert_num_queries(1 + len(selectors.USAGE_COUNTERS)):
        page = selectors.platform_workspaces()
        assert [row.usage for row in page.rows]


def test_a_new_usage_counter_plugs_in_as_a_column(staff_client: Client, world, monkeypatch):
    def leads(workspace_ids: Sequence[UUID]) -> dict[UUID, int]:
        return {world.a.pk: 42}

    counters = {**selectors.USAGE_COUNTERS, "leads": UsageCounter("Leads stored", leads)}
    monkeypatch.setattr(selectors, "USAGE_COUNTERS", counters)

    response = staff_client.get(LIST)

    assert _rows(response)["alpha"]["leads"] == 42
    assert _rows(response)["beta"]["leads"] == 0
    assert "Leads stored" in response.content.decode()
