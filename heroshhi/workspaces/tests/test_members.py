"""The team page: who sees it, role changes, and removing people."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heroshhi.accounts.services import user_create
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.tenancy import WorkspaceScopeMismatch
from heroshhi.workspaces.errors import CannotRemoveSelf, LastOwner
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import (
    member_remove,
    member_role_change,
    membership_create,
)
from heroshhi.workspaces.tests.helpers import membership_of, sign_in

pytestmark = pytest.mark.django_db

OWNER = Role.OWNER


def _owner(world) -> Actor:
    return Actor.user(world.alice.pk, role=OWNER)


def _seat(world, user):
    membership = membership_of(user, world.a)
    assert membership is not None
    return membership


# --- Who sees the team page ---


def test_sales_cannot_see_the_team_page(world):
    bob = sign_in(world.bob)

    assert bob.get("/w/alpha/team/").status_code == 403
    assert (
        bob.post("/w/alpha/team/invite/", {"email": "x@a.example", "role": "sales"}).status_code
        == 403
    )


def test_a_manager_sees_the_team_but_cannot_change_roles_or_remove(world, manager):
    client = sign_in(manager)

    response = client.get("/w/alpha/team/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "alice@a.example" in html
    assert 'name="role"' in html  # the invite form's role field only
    assert "/role/" not in html
    assert "/remove/" not in html
    bob = _seat(world, world.bob)
    assert (
        client.post(f"/w/alpha/team/members/{bob.pk}/role/", {"role": "manager"}).status_code == 403
    )
    assert client.get(f"/w/alpha/team/members/{bob.pk}/remove/").status_code == 403


def _team_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/w/alpha/team/")
    assert response.status_code == 200
    return len(queries)


def test_the_team_page_costs_the_same_queries_for_2_or_12_people(client, world, invite):
    client.force_login(world.alice)
    invite("first@a.example")
    _team_page_queries(client)  # loads the workspace's key into the process cache
    few = _team_page_queries(client)
    for n in range(8):
        user = user_create(
            email=f"rep{n}@a.example", password="x" * 20 + "9q!", full_name=f"Rep {n}"
        )
        membership_create(workspace=world.a, user=user, role=Role.SALES)
        invite(f"invitee{n}@a.example")

    many = _team_page_queries(client)

    assert many == few
    response = client.get("/w/alpha/team/")
    assert len(response.context["members"]) == 10
    assert len(response.context["invitations"]) == 9


# --- Role changes ---


def test_the_owner_changes_a_role_and_it_is_audited(client, world):
    bob = _seat(world, world.bob)
    client.force_login(world.alice)

    response = client.post(f"/w/alpha/team/members/{bob.pk}/role/", {"role": "manager"})

    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.role == "manager"
    event = AuditEvent.objects.get(action="member_role_changed")
    assert event.target_id == str(bob.pk)
    assert event.metadata == {"from": "sales", "to": "manager"}


def test_a_role_change_through_htmx_answers_with_the_updated_row(client, world):
    bob = _seat(world, world.bob)
    client.force_login(world.alice)

    response = client.post(
        f"/w/alpha/team/members/{bob.pk}/role/", {"role": "manager"}, headers={"HX-Request": "true"}
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<li class="team-list__item" id="member-{bob.pk}"')
    assert '<option value="manager" selected>' in html


def test_the_last_owner_cannot_be_demoted(client, world):
    alice = _seat(world, world.alice)

    with pytest.raises(LastOwner):
        member_role_change(workspace=world.a, actor=_owner(world), member=alice, role=Role.MANAGER)

    client.force_login(world.alice)
    response = client.post(
        f"/w/alpha/team/members/{alice.pk}/role/", {"role": "sales"}, headers={"HX-Request": "true"}
    )
    assert "at least one owner" in response.content.decode()
    alice.refresh_from_db()
    assert alice.role == "owner"
    assert not AuditEvent.objects.filter(action="member_role_changed").exists()


def test_with_a_second_owner_an_owner_may_step_down(world):
    bob, alice = _seat(world, world.bob), _seat(world, world.alice)
    member_role_change(workspace=world.a, actor=_owner(world), member=bob, role=OWNER)

    member_role_change(workspace=world.a, actor=_owner(world), member=alice, role=Role.SALES)

    alice.refresh_from_db()
    assert alice.role == "sales"


def test_only_owners_may_change_roles(world, manager):
    bob = _seat(world, world.bob)

    with pytest.raises(PermissionDenied):
        member_role_change(
            workspace=world.a, actor=Actor.user(manager.pk, "manager"), member=bob, role=Role.SALES
        )


# --- Removal ---


def test_removing_a_member_signs_them_out_everywhere_and_is_audited(world):
    bob_browser = sign_in(world.bob)
    bob_phone = sign_in(world.bob)
    assert bob_browser.get("/w/alpha/").status_code == 200
    bob = _seat(world, world.bob)
    alice = sign_in(world.alice)

    page = alice.get(f"/w/alpha/team/members/{bob.pk}/remove/")
    assert "signed out of Heroshhi Pro on every device" in page.content.decode()
    response = alice.post(f"/w/alpha/team/members/{bob.pk}/remove/", {"reassign_to": ""})

    assert response.status_code == 302
    assert membership_of(world.bob, world.a) is None
    for client in (bob_browser, bob_phone):
        # Anonymous now: the workspace sends them to sign in, the root too.
        assert client.get("/w/alpha/").status_code == 302
        assert "/accounts/login/" in client.get("/")["Location"]
    assert alice.get("/w/alpha/").status_code == 200
    event = AuditEvent.objects.get(action="member_removed")
    assert event.target_id == str(bob.pk)
    assert event.metadata == {
        "user_id": str(world.bob.pk),
        "role": "sales",
        "reassign_to": None,
        "leads_handed_back": 0,
        "sessions_ended": 2,
    }


def test_removal_can_hand_the_leads_to_another_member(client, world, manager):
    bob, maya = _seat(world, world.bob), _seat(world, manager)
    client.force_login(world.alice)

    client.post(f"/w/alpha/team/members/{bob.pk}/remove/", {"reassign_to": str(maya.pk)})

    event = AuditEvent.objects.get(action="member_removed")
    assert event.metadata["reassign_to"] == str(maya.pk)


def test_the_last_owner_cannot_be_removed_and_nobody_removes_themselves(world, manager):
    alice = _seat(world, world.alice)
    with pytest.raises(CannotRemoveSelf):
        member_remove(workspace=world.a, actor=_owner(world), member=alice)
    # An owner API key is not Alice, so only the last-owner rule stops it.
    key = Actor(type=ActorType.API_KEY, id="k", role="owner")
    with pytest.raises(LastOwner):
        member_remove(workspace=world.a, actor=key, member=alice)
    assert membership_of(world.alice, world.a) is not None


def test_only_owners_may_remove_members(world, manager):
    with pytest.raises(PermissionDenied):
        member_remove(
            workspace=world.a,
            actor=Actor.user(manager.pk, "manager"),
            member=_seat(world, world.bob),
        )


def test_the_services_refuse_a_member_of_another_workspace(world):
    charlie = membership_of(world.charlie, world.b)
    assert charlie is not None

    with pytest.raises(WorkspaceScopeMismatch):
        member_role_change(workspace=world.a, actor=_owner(world), member=charlie, role=Role.SALES)
    with pytest.raises(WorkspaceScopeMismatch):
        member_remove(workspace=world.a, actor=_owner(world), member=charlie)
    assert membership_of(world.charlie, world.b) is not None
