"""REST: /api/v1/members and /api/v1/invitations, called with API keys."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from heroshhi.accounts.models import UserSession
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Invitation
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.tests.helpers import api_key, membership_of, sign_in

pytestmark = pytest.mark.django_db

JSON = "application/json"


def _error(response) -> dict:
    return response.json()["error"]


def _seat_id(world, user) -> str:
    membership = membership_of(user, world.a)
    assert membership is not None
    return str(membership.pk)


# --- Members ---


def test_owners_and_managers_list_the_members(client, world):
    for role in (Role.OWNER, Role.MANAGER):
        response = client.get("/api/v1/members", **api_key(world.a, role))

        assert response.status_code == 200
        members = {m["email"]: m for m in response.json()}
        assert set(members) == {"alice@a.example", "bob@a.example"}
        assert members["bob@a.example"]["role"] == "sales"
        assert members["bob@a.example"]["id"] == _seat_id(world, world.bob)


def test_a_sales_key_may_not_list_the_team(client, world):
    response = client.get("/api/v1/members", **api_key(world.a, Role.SALES))

    assert response.status_code == 403
    assert _error(response)["code"] == "forbidden"


def test_an_owner_key_changes_a_role(client, world):
    response = client.patch(
        f"/api/v1/members/{_seat_id(world, world.bob)}",
        {"role": "manager"},
        content_type=JSON,
        **api_key(world.a, Role.OWNER),
    )

    assert response.status_code == 200
    assert response.json()["role"] == "manager"
    event = AuditEvent.objects.get(action="member_role_changed")
    assert event.actor_type == "api_key"


def test_demoting_the_last_owner_is_a_conflict(client, world):
    response = client.patch(
        f"/api/v1/members/{_seat_id(world, world.alice)}",
        {"role": "sales"},
        content_type=JSON,
        **api_key(world.a, Role.OWNER),
    )

    assert response.status_code == 409
    assert _error(response)["code"] == "last_owner"


def test_a_role_change_with_a_bad_role_names_the_field(client, world):
    response = client.patch(
        f"/api/v1/members/{_seat_id(world, world.bob)}",
        {"role": "admin"},
        content_type=JSON,
        **api_key(world.a, Role.OWNER),
    )

    assert response.status_code == 422
    assert _error(response)["code"] == "validation_error"
    assert "role" in _error(response)["fields"]


@pytest.mark.parametrize("member_id", ["not-a-uuid", "5b0f7c56-0d2e-4c0e-9a51-3f4a8f2f1e77"])
def test_unknown_members_are_not_found(client, world, member_id):
    response = client.patch(
        f"/api/v1/members/{member_id}",
        {"role": "sales"},
        content_type=JSON,
        **api_key(world.a, Role.OWNER),
    )

    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"


def test_a_manager_key_may_not_change_roles_or_remove(client, world):
    headers = api_key(world.a, Role.MANAGER)
    bob = _seat_id(world, world.bob)

    patched = client.patch(
        f"/api/v1/members/{bob}", {"role": "sales"}, content_type=JSON, **headers
    )
    deleted = client.delete(f"/api/v1/members/{bob}", **headers)

    assert patched.status_code == deleted.status_code == 403


def test_an_owner_key_removes_a_member_and_ends_their_sessions(client, world):
    bob_browser = sign_in(world.bob)

    response = client.delete(
        f"/api/v1/members/{_seat_id(world, world.bob)}", **api_key(world.a, Role.OWNER)
    )

    assert response.status_code == 204
    assert membership_of(world.bob, world.a) is None
    assert not UserSession.objects.filter(user=world.bob).exists()
    assert bob_browser.get("/w/alpha/").status_code == 302
    assert AuditEvent.objects.get(action="member_removed").metadata["sessions_ended"] == 1


def test_removal_hands_leads_only_to_a_member_of_the_same_workspace(client, world):
    charlie_seat = membership_of(world.charlie, world.b)
    assert charlie_seat is not None
    headers = api_key(world.a, Role.OWNER)
    bob = _seat_id(world, world.bob)

    foreign = client.delete(f"/api/v1/members/{bob}?reassign_to={charlie_seat.pk}", **headers)
    assert foreign.status_code == 404
    assert membership_of(world.bob, world.a) is not None

    alice = _seat_id(world, world.alice)
    assert client.delete(f"/api/v1/members/{bob}?reassign_to={alice}", **headers).status_code == 204
    assert AuditEvent.objects.get(action="member_removed").metadata["reassign_to"] == alice


def test_removing_the_last_owner_is_a_conflict(client, world):
    response = client.delete(
        f"/api/v1/members/{_seat_id(world, world.alice)}", **api_key(world.a, Role.OWNER)
    )

    assert response.status_code == 409
    assert _error(response)["code"] == "last_owner"


# --- Invitations ---


def test_an_owner_key_invites_and_the_email_goes_out(
    client, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/invitations",
            {"email": "Neha@A.example", "role": "manager"},
            content_type=JSON,
            **api_key(world.a, Role.OWNER),
        )

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "neha@a.example"
    assert body["role"] == "manager"
    assert body["status"] == "pending"
    assert mail.outbox[-1].to == ["neha@a.example"]
    assert "/invitations/" in mail.outbox[-1].body
    with workspace_scope(world.a):
        assert Invitation.objects.get().invited_by is None


def test_a_manager_key_invites_sales_but_not_managers(client, world):
    headers = api_key(world.a, Role.MANAGER)

    sales = client.post(
        "/api/v1/invitations",
        {"email": "s@a.example", "role": "sales"},
        content_type=JSON,
        **headers,
    )
    manager = client.post(
        "/api/v1/invitations",
        {"email": "m@a.example", "role": "manager"},
        content_type=JSON,
        **headers,
    )

    assert sales.status_code == 201
    assert manager.status_code == 403


@pytest.mark.parametrize(
    ("email", "code"),
    [("bob@a.example", "already_member"), ("pending@a.example", "already_invited")],
)
def test_conflicting_invitations_get_409_with_a_code_and_no_address(
    client, world, invite, email, code
):
    invite("pending@a.example")

    response = client.post(
        "/api/v1/invitations",
        {"email": email, "role": "sales"},
        content_type=JSON,
        **api_key(world.a, Role.OWNER),
    )

    assert response.status_code == 409
    assert _error(response)["code"] == code
    assert "@" not in response.content.decode()


def test_an_invalid_address_names_the_field_without_echoing_it(client, world):
    response = client.post(
        "/api/v1/invitations",
        {"email": "not an address", "role": "sales"},
        content_type=JSON,
        **api_key(world.a, Role.OWNER),
    )

    assert response.status_code == 422
    assert "email" in _error(response)["fields"]
    assert "not an address" not in response.content.decode()


def test_invitations_are_listed_with_their_address_for_the_team(client, world, invite):
    invitation, _ = invite("neha@a.example", role=Role.MANAGER)

    response = client.get("/api/v1/invitations", **api_key(world.a, Role.MANAGER))

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": str(invitation.pk),
            "email": "neha@a.example",
            "role": "manager",
            "status": "pending",
            "created_at": response.json()[0]["created_at"],
            "expires_at": response.json()[0]["expires_at"],
        }
    ]
    assert client.get("/api/v1/invitations", **api_key(world.a, Role.SALES)).status_code == 403


def test_an_owner_key_revokes_an_invitation(client, world, invite):
    invitation, _ = invite("neha@a.example")

    response = client.delete(f"/api/v1/invitations/{invitation.pk}", **api_key(world.a, Role.OWNER))

    assert response.status_code == 204
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert client.get("/api/v1/invitations", **api_key(world.a, Role.OWNER)).json() == []


def test_revoking_an_accepted_invitation_is_a_conflict(client, world, invite):
    invitation, _ = invite("neha@a.example")
    with workspace_scope(world.a):
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())

    response = client.delete(f"/api/v1/invitations/{invitation.pk}", **api_key(world.a, Role.OWNER))

    assert response.status_code == 409
    assert _error(response)["code"] == "invitation_accepted"


def test_another_workspaces_key_cannot_touch_an_invitation(client, world, invite):
    invitation, _ = invite("neha@a.example")

    response = client.delete(f"/api/v1/invitations/{invitation.pk}", **api_key(world.b, Role.OWNER))

    assert response.status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
