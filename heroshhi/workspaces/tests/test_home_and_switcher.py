"""Landing: the root page, the workspace home and the workspace switcher."""

from __future__ import annotations

import copy

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

from heroshhi.accounts.models import User
from heroshhi.core.actors import Actor
from heroshhi.workspaces.context_processors import workspaces
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create, workspace_create
from heroshhi.workspaces.tests.helpers import membership_of

pytestmark = pytest.mark.django_db

PROCESSOR = "heroshhi.workspaces.context_processors.workspaces"


@pytest.fixture
def with_switcher(settings):
    """The context processor as settings.py should list it (see the report)."""
    templates = copy.deepcopy(settings.TEMPLATES)
    processors = templates[0]["OPTIONS"]["context_processors"]
    if PROCESSOR not in processors:
        processors.append(PROCESSOR)
    settings.TEMPLATES = templates


def test_the_root_sends_a_member_to_their_first_workspace(client, world):
    client.force_login(world.alice)

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/w/alpha/"


def test_the_root_offers_to_create_or_join_a_workspace_to_someone_without_one(client):
    client.force_login(User.objects.create_user(email="new@x.example", password="x" * 20))

    response = client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Create a workspace" in html
    assert "Join your team" in html


def test_someone_without_a_workspace_can_create_one(client):
    user = User.objects.create_user(email="new@x.example", password="x" * 20)
    client.force_login(user)

    response = client.post("/start/", {"name": "Verma Traders"})

    assert response.status_code == 302
    assert response["Location"] == "/w/verma-traders/"
    membership = membership_of(user, Workspace.objects.get(slug="verma-traders"))
    assert membership is not None
    assert membership.role == "owner"


def test_the_switcher_lists_only_the_users_own_workspaces(client, world, with_switcher):
    gamma = workspace_create(
        actor=Actor.system(), name="Gamma Foods", slug="gamma", owner=world.charlie
    )
    membership_create(workspace=gamma, user=world.alice, role=Role.MANAGER)
    client.force_login(world.alice)

    html = client.get("/w/alpha/").content.decode()

    assert "Alpha Traders" in html
    assert 'href="/w/gamma/"' in html
    assert "Beta Exports" not in html
    assert 'href="/w/alpha/" aria-current="true"' in html


def test_the_switcher_context_is_empty_for_visitors_and_lazy_for_members(world):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert workspaces(request) == {"workspaces": [], "can": frozenset()}
    request.user = world.bob
    listed = workspaces(request)["workspaces"]
    assert isinstance(listed, SimpleLazyObject)  # no query until the template asks
    assert [w.slug for w in list(listed)] == ["alpha"]


def test_the_workspace_home_shows_the_team_at_a_glance(client, world, invite):
    invite("new@a.example")
    client.force_login(world.alice)

    response = client.get("/w/alpha/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Team members" in html
    assert 'href="/w/alpha/team/"' in html
    assert response.context["overview"].members == 2
    assert response.context["overview"].pending_invitations == 1


def test_sales_see_no_team_link_on_the_workspace_home(client, world):
    client.force_login(world.bob)

    html = client.get("/w/alpha/").content.decode()

    assert 'href="/w/alpha/team/"' not in html


def test_a_slug_the_middleware_would_not_resolve_is_simply_not_found(client, world):
    client.force_login(world.alice)

    assert client.get("/w/Alpha/").status_code == 404
    assert client.get("/w/al_pha/team/").status_code == 404


def test_the_navigation_shows_only_what_the_role_may_open(client, world):
    client.force_login(world.bob)
    sales_html = client.get("/w/alpha/").content.decode()
    client.force_login(world.alice)
    owner_html = client.get("/w/alpha/").content.decode()
    for link in ('href="/w/alpha/team/"', 'href="/w/alpha/settings/audit/"'):
        assert link in owner_html
        assert link not in sales_html
    assert 'href="/w/alpha/leads/"' in sales_html


def test_the_dashboard_shows_the_newest_leads_the_member_may_see(client, world):
    from heroshhi.core.actors import Actor
    from heroshhi.leads.services.leads import lead_create

    owner = Actor.user(world.alice.pk, role="owner")
    lead_create(
        workspace=world.a,
        actor=owner,
        name="Meera Iyer",
        phone="98765 43210",
        email=None,
        source="manual",
    )
    client.force_login(world.alice)
    owner_html = client.get("/w/alpha/").content.decode()
    assert "Meera Iyer" in owner_html
    assert "+919876543210" in owner_html
    client.force_login(world.bob)  # sales: the lead is not assigned to Bob
    assert "Meera Iyer" not in client.get("/w/alpha/").content.decode()
