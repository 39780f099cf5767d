"""Following an invitation link: new people, existing people, and links that are dead."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from heroshhi.accounts.models import User, UserSession
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.errors import InvitationNotValid
from heroshhi.workspaces.models import Invitation
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import (
    invitation_accept,
    invitation_revoke,
    member_remove,
    membership_create,
)
from heroshhi.workspaces.tests.helpers import membership_of

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a fresh long passphrase 9"


def _open_link(client: Client, token: str):
    """Follow the e-mailed link: it parks the token and moves to a token-free address."""
    response = client.get(f"/invitations/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/invitations/accept/"
    assert token not in response["Location"]
    return client.get("/invitations/accept/")


def _create_account(client: Client, **overrides: str):
    data = {"full_name": "Neha Gupta", "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}
    return client.post("/invitations/accept/", {**data, **overrides})


def test_a_new_person_creates_an_account_joins_and_is_signed_in(client, world, invite):
    invitation, token = invite("Neha@a.example", role=Role.MANAGER)

    page = _open_link(client, token)
    assert page.status_code == 200
    assert "Alpha Traders" in page.content.decode()
    response = _create_account(client)

    assert response.status_code == 302
    assert response["Location"] == "/w/alpha/"
    neha = User.objects.get(email="neha@a.example")
    assert neha.full_name == "Neha Gupta"
    membership = membership_of(neha, world.a)
    assert membership is not None
    assert membership.role == "manager"
    assert client.get("/w/alpha/").status_code == 200
    assert UserSession.objects.filter(user=neha).exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    accepted = AuditEvent.objects.get(action="invitation_accepted")
    assert accepted.actor_id == str(neha.pk)
    assert accepted.target_id == str(invitation.pk)
    assert accepted.metadata == {"role": "manager"}
    assert AuditEvent.objects.get(action="user_created").metadata == {"via": "invitation"}


def test_a_new_persons_weak_password_is_refused_inline(client, world, invite):
    _, token = invite("neha@a.example")
    _open_link(client, token)

    response = _create_account(client, password="short", password_again="short")

    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not User.objects.filter(email="neha@a.example").exists()


def test_an_existing_signed_in_user_with_the_invited_address_joins(client, world, invite):
    _, token = invite("charlie@b.example", role=Role.SALES)
    client.force_login(world.charlie)

    page = _open_link(client, token)
    assert "Accept and join" in page.content.decode()
    response = client.post("/invitations/accept/")

    assert response.status_code == 302
    assert response["Location"] == "/w/alpha/"
    membership = membership_of(world.charlie, world.a)
    assert membership is not None
    assert membership.role == "sales"
    # Still the owner of B: the new seat is one more workspace, not a move.
    owner_seat = membership_of(world.charlie, world.b)
    assert owner_seat is not None
    assert owner_seat.role == "owner"


def test_an_existing_user_who_is_signed_out_signs_in_first_then_accepts(client, world, invite):
    _, token = invite("charlie@b.example")

    page = _open_link(client, token)
    html = page.content.decode()
    assert "Sign in to accept" in html
    assert "/accounts/login/?next=/invitations/accept/" in html
    assert token not in html
    assert membership_of(world.charlie, world.a) is None

    client.force_login(world.charlie)  # keeps the session, as signing in does
    assert "Accept and join" in client.get("/invitations/accept/").content.decode()
    client.post("/invitations/accept/")
    assert membership_of(world.charlie, world.a) is not None


def test_someone_signed_in_with_another_address_cannot_use_the_link(client, world, invite):
    _, token = invite("charlie@b.example")
    client.force_login(world.bob)

    page = _open_link(client, token)
    assert page.status_code == 403
    assert "for someone else" in page.content.decode()
    response = client.post("/invitations/accept/")

    assert response.status_code == 403
    assert membership_of(world.charlie, world.a) is None


def _expire(invitation: Invitation, world) -> None:
    with workspace_scope(world.a):
        Invitation.objects.filter(pk=invitation.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )


def _use(invitation: Invitation, world, token: str) -> None:
    first = Client()
    _open_link(first, token)
    _create_account(first)


def _revoke(invitation: Invitation, world) -> None:
    invitation_revoke(
        workspace=world.a, actor=Actor.user(world.alice.pk, "owner"), invitation=invitation
    )


@pytest.mark.parametrize("state", ["expired", "used", "revoked", "unknown", "malformed"])
def test_dead_links_all_show_the_same_clear_page(client, world, invite, state):
    invitation, token = invite("neha@a.example")
    if state == "expired":
        _expire(invitation, world)
    elif state == "used":
        _use(invitation, world, token)
    elif state == "revoked":
        _revoke(invitation, world)
    elif state == "unknown":
        token = secrets.token_urlsafe(32)
    else:
        token = "not-a-token"

    page = _open_link(client, token)

    assert page.status_code == 410
    assert "This invitation is no longer valid" in page.content.decode()
    assert _create_account(client).status_code == 410
    assert User.objects.filter(email="neha@a.example").count() == (1 if state == "used" else 0)


def test_a_link_revoked_while_its_page_is_open_no_longer_works(client, world, invite):
    invitation, token = invite("neha@a.example")
    _open_link(client, token)
    _revoke(invitation, world)

    response = _create_account(client)

    assert response.status_code == 410
    assert not User.objects.filter(email="neha@a.example").exists()


def test_the_accept_page_without_any_link_is_the_same_clear_page(client):
    response = client.get("/invitations/accept/")

    assert response.status_code == 410
    assert "This invitation is no longer valid" in response.content.decode()


def test_an_existing_member_following_a_link_is_sent_to_the_workspace(client, world, invite):
    invitation, token = invite("charlie@b.example")
    membership_create(workspace=world.a, user=world.charlie, role=Role.SALES)
    client.force_login(world.charlie)
    _open_link(client, token)

    response = client.post("/invitations/accept/")

    assert response.status_code == 302
    assert response["Location"] == "/w/alpha/"
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_a_used_link_cannot_seat_a_removed_member_again(world, invite):
    invitation, _ = invite("charlie@b.example")
    with workspace_scope(world.a):
        stale = Invitation.objects.get(pk=invitation.pk)  # read before the first use
    charlie = Actor.user(world.charlie.pk, role="sales")
    seat = invitation_accept(
        workspace=world.a, actor=charlie, invitation=invitation, user=world.charlie
    )
    member_remove(workspace=world.a, actor=Actor.user(world.alice.pk, "owner"), member=seat)

    with pytest.raises(InvitationNotValid):
        invitation_accept(workspace=world.a, actor=charlie, invitation=stale, user=world.charlie)

    assert membership_of(world.charlie, world.a) is None
