"""The platform admin manages accounts but never reads what is inside them (P27).

Canary values are seeded into workspace A (a member's name and e-mail address, an API key
name, an encrypted note standing in for lead content, an invitee's encrypted address); no
console page may show any of them, and staff get 404 on every page of the workspace.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.core.tests.crypto.testapp.models import SecretNote
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.platform_admin.tests.helpers import issue_key
from heroshhi.workspaces.services import invitation_create, membership_create

CANARY_NAME = "Quentin Canarywick"
CANARY_EMAIL = "quentin.canary@a.example"
CANARY_KEY_NAME = "canary-key-zebra"
CANARY_NOTE = "canary lead note: wants forty sacks of basmati"
CANARY_INVITEE = "invitee.canary@a.example"


@pytest.fixture
def seeded(world):
    person = user_create(email=CANARY_EMAIL, password=PASSWORD, full_name=CANARY_NAME)
    membership_create(workspace=world.a, user=person, role=Role.MANAGER)
    issue_key(world.a, CANARY_KEY_NAME)
    with workspace_scope(world.a):
        SecretNote.objects.create(workspace=world.a, subject=CANARY_NOTE, body=CANARY_NOTE)
    invitation_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        email=CANARY_INVITEE,
        role=Role.SALES,
        invited_by=world.alice,
        base_url="https://app.example",
    )
    return world


def _canaries(world) -> list[str]:
    return [
        CANARY_NAME,
        CANARY_EMAIL,
        CANARY_KEY_NAME,
        CANARY_NOTE,
        CANARY_INVITEE,
        world.alice.email,
        world.bob.email,
        world.charlie.email,
    ]


def _assert_no_canary(response, world) -> None:
    assert response.status_code == 200
    html = response.content.decode()
    leaked = [canary for canary in _canaries(world) if canary.lower() in html.lower()]
    assert leaked == [], response.request["PATH_INFO"]


def test_no_console_page_shows_anything_from_inside_a_workspace(staff_client: Client, seeded):
    detail = reverse("platform:workspace_detail", kwargs={"workspace_id": seeded.a.pk})
    suspend = reverse("platform:workspace_suspend", kwargs={"workspace_id": seeded.a.pk})
    reactivate = reverse("platform:workspace_reactivate", kwargs={"workspace_id": seeded.a.pk})
    pages = [
        staff_client.get(reverse("platform:workspaces")),
        # A search echoes its own term, so search a fragment rather than a whole canary.
        staff_client.get(reverse("platform:workspaces"), {"q": "canary"}),
        staff_client.get(detail),
        staff_client.post(suspend, {"reason": "abuse"}, follow=True),
        staff_client.post(reactivate, {"reason": "other"}, follow=True),
        staff_client.get(reverse("platform:audit_events")),
        staff_client.post(reverse("platform:audit_verify"), follow=True),
    ]
    for response in pages:
        _assert_no_canary(response, seeded)


def test_the_detail_page_counts_members_by_role_without_naming_them(staff_client: Client, seeded):
    detail = reverse("platform:workspace_detail", kwargs={"workspace_id": seeded.a.pk})
    facts = staff_client.get(detail).context["facts"]
    assert dict(facts.members_by_role) == {"owner": 1, "manager": 1, "sales": 1}
    assert facts.summary.usage == {"members": 3, "api_keys": 1}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/w/alpha/"),
        ("get", "/w/alpha/settings/audit/"),
        ("post", "/w/alpha/settings/audit/verify/"),
    ],
)
def test_staff_get_404_inside_a_workspace_like_any_non_member(
    staff_client: Client, seeded, method, path
):
    response = getattr(staff_client, method)(path)
    assert response.status_code == 404
    html = response.content.decode()
    assert CANARY_NOTE not in html
    assert "Alpha Traders" not in html
