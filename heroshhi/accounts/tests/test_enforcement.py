"""Where two-factor is required: workspaces whose owner asks for it, and platform admins."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from conftest import World
from heroshhi.accounts.models import User
from heroshhi.accounts.services import api_key_create, workspace_two_factor_require
from heroshhi.accounts.tests.conftest import (
    FrozenClock,
    assert_no_personal_data,
    current_code,
    enable_two_factor,
    events,
    login,
)
from heroshhi.core.actors import Actor
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db

ENROL = "/account/security/two-factor/"


def signed_in_client(email: str) -> Client:
    client = Client()
    assert login(client, email).status_code == 302
    return client


def require_in_a(world: World) -> None:
    Workspace.objects.filter(pk=world.a.pk).update(require_two_factor=True)


def test_a_member_without_two_factor_is_sent_to_enrolment(world: World):
    require_in_a(world)
    bob = signed_in_client(world.bob.email)
    response = bob.get("/w/alpha/probe/")
    assert response.status_code == 302
    assert response["Location"] == f"{ENROL}?next=%2Fw%2Falpha%2Fprobe%2F"
    page = bob.get(response["Location"])
    assert page.status_code == 200
    assert "required for the page you asked for" in page.content.decode()


def test_htmx_requests_get_a_client_side_redirect(world: World):
    require_in_a(world)
    bob = signed_in_client(world.bob.email)
    response = bob.get("/w/alpha/probe/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(ENROL)
    assert "Location" not in response


def test_a_member_with_two_factor_enters(world: World, clock: FrozenClock):
    require_in_a(world)
    secret, _ = enable_two_factor(world.bob, clock)
    bob = Client()
    login(bob, world.bob.email)
    bob.post("/accounts/login/verify/", {"code": current_code(secret, clock)})
    assert bob.get("/w/alpha/probe/").content == b"inside alpha"


def test_other_workspaces_and_pages_are_not_affected(world: World):
    require_in_a(world)
    charlie = signed_in_client(world.charlie.email)
    assert charlie.get("/w/beta/probe/").status_code == 200
    bob = signed_in_client(world.bob.email)
    assert bob.get("/account/security/").status_code == 200


def test_api_keys_are_not_affected(world: World):
    require_in_a(world)
    issued = api_key_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        created_by=world.alice,
        name="crm sync",
        role=Role.SALES,
    )
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    assert response.status_code == 200


def test_enrolling_lets_the_member_in(world: World, clock: FrozenClock):
    require_in_a(world)
    bob = signed_in_client(world.bob.email)
    bob.post(ENROL + "setup/", {"next": "/w/alpha/probe/"})
    enable_secret = bob.get(ENROL).context["secret_grouped"].replace(" ", "")
    done = bob.post(
        ENROL + "confirm/",
        {"code": current_code(enable_secret, clock), "next": "/w/alpha/probe/"},
    )
    assert 'href="/w/alpha/probe/"' in done.content.decode()
    assert bob.get("/w/alpha/probe/").status_code == 200


def test_platform_admins_without_two_factor_are_sent_to_enrolment(world: World):
    User.objects.filter(pk=world.charlie.pk).update(is_staff=True)
    charlie = signed_in_client(world.charlie.email)
    home = charlie.get("/")
    assert home.status_code == 302
    assert home["Location"].startswith(ENROL)
    assert charlie.get("/w/beta/probe/").status_code == 302
    assert charlie.get(ENROL).status_code == 200
    assert charlie.post("/accounts/logout/").status_code == 302


def test_platform_admins_with_two_factor_pass(world: World, clock: FrozenClock):
    User.objects.filter(pk=world.charlie.pk).update(is_staff=True)
    secret, _ = enable_two_factor(world.charlie, clock)
    charlie = Client()
    login(charlie, world.charlie.email)
    charlie.post("/accounts/login/verify/", {"code": current_code(secret, clock)})
    assert charlie.get("/w/beta/probe/").status_code == 200


# --- The owner's switch ---------------------------------------------------------------------


def switch(client: Client, slug: str, required: bool):
    data = {"required": "on"} if required else {}
    return client.post(f"/account/security/workspaces/{slug}/two-factor/", data)


def test_the_owner_requires_two_factor_once_she_uses_it(world: World, clock: FrozenClock):
    alice = signed_in_client(world.alice.email)
    switch(alice, "alpha", required=True)
    world.a.refresh_from_db()
    assert not world.a.require_two_factor  # refused: Alice has no two-factor yet

    secret, _ = enable_two_factor(world.alice, clock)
    alice = Client()
    login(alice, world.alice.email)
    alice.post("/accounts/login/verify/", {"code": current_code(secret, clock)})
    assert switch(alice, "alpha", required=True).status_code == 302
    world.a.refresh_from_db()
    assert world.a.require_two_factor
    assert switch(alice, "alpha", required=False).status_code == 302
    world.a.refresh_from_db()
    assert not world.a.require_two_factor

    policy = [e for e in events() if e.reason == "workspace_policy"]
    assert [(e.action, e.workspace_id, e.target_id) for e in policy] == [
        ("mfa_enabled", world.a.pk, str(world.a.pk)),
        ("mfa_disabled", world.a.pk, str(world.a.pk)),
    ]
    assert {e.actor_id for e in policy} == {str(world.alice.pk)}
    assert_no_personal_data(world)


def test_only_the_owner_may_flip_the_switch(world: World):
    bob = signed_in_client(world.bob.email)
    assert switch(bob, "alpha", required=False).status_code == 403
    charlie = signed_in_client(world.charlie.email)
    assert switch(charlie, "alpha", required=False).status_code == 404
    assert charlie.get("/account/security/workspaces/alpha/two-factor/").status_code == 404


def test_the_service_refuses_a_non_owner(world: World):
    with pytest.raises(PermissionDenied, match=r"security\.settings"):
        workspace_two_factor_require(
            workspace=world.a, actor=Actor.user(world.bob.pk, role=Role.SALES), required=False
        )


def test_the_security_page_shows_the_switch_to_owners_only(world: World):
    alice_page = signed_in_client(world.alice.email).get("/account/security/").content.decode()
    bob_page = signed_in_client(world.bob.email).get("/account/security/").content.decode()
    assert "Alpha Traders" in alice_page
    assert "Workspace rules" not in bob_page
