"""Sending and revoking invitations: who may invite whom, and what is stored."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection

from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces import services
from heroshhi.workspaces.errors import AlreadyInvited, AlreadyMember, InvitationAlreadyAccepted
from heroshhi.workspaces.models import Invitation
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.selectors import invitation_token_hash
from heroshhi.workspaces.services import invitation_accept, invitation_create, invitation_revoke

pytestmark = pytest.mark.django_db


def _create(world, *, actor_role: Role, role: Role, email: str = "new@a.example"):
    return invitation_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=actor_role),
        email=email,
        role=role,
        invited_by=None,
        base_url="http://testserver",
    )


@pytest.mark.parametrize("role", list(Role))
def test_an_owner_may_invite_every_role(world, invite, role):
    invitation, token = invite("New.Person@A.example", role=role)

    assert invitation.role == role.value
    message = mail.outbox[-1]
    assert message.to == ["new.person@a.example"]
    assert "Alpha Traders" in message.subject
    assert f"http://testserver/invitations/{token}/" in message.body
    assert invitation.expires_at - invitation.created_at >= services.INVITATION_TTL * 0.99
    event = AuditEvent.objects.get(action="invitation_sent")
    assert event.target_type == "invitation"
    assert event.target_id == str(invitation.pk)
    assert event.metadata == {"role": role.value}


def test_a_manager_may_invite_sales_only(world, manager):
    invitation = _create(world, actor_role=Role.MANAGER, role=Role.SALES)
    assert invitation.role == "sales"

    for role in (Role.MANAGER, Role.OWNER):
        with pytest.raises(PermissionDenied):
            _create(world, actor_role=Role.MANAGER, role=role, email=f"{role}@a.example")


def test_sales_may_not_invite_anyone(world):
    with pytest.raises(PermissionDenied):
        _create(world, actor_role=Role.SALES, role=Role.SALES)


def test_inviting_an_existing_member_is_refused(world):
    with pytest.raises(AlreadyMember):
        _create(world, actor_role=Role.OWNER, role=Role.SALES, email="BOB@a.example")
    assert mail.outbox == []


def test_a_second_invitation_while_one_is_pending_is_refused(world, invite):
    invite("new@a.example")

    with pytest.raises(AlreadyInvited):
        _create(world, actor_role=Role.OWNER, role=Role.MANAGER, email=" NEW@a.example ")


def test_the_same_address_may_be_invited_again_once_the_first_is_revoked(world, invite):
    first, _ = invite("new@a.example")
    invitation_revoke(
        workspace=world.a, actor=Actor.user(world.alice.pk, "owner"), invitation=first
    )

    second, _ = invite("new@a.example", role=Role.MANAGER)

    assert second.pk != first.pk


def test_the_invited_address_and_the_token_are_not_stored_in_plaintext(world, invite):
    _, token = invite("secret.person@a.example")

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM workspaces_invitation")
        rows = cursor.fetchall()
    raw = repr(rows).lower()
    assert "secret.person" not in raw
    assert "a.example" not in raw
    assert token.lower() not in raw
    assert invitation_token_hash(token) in repr(rows)
    # ...and it reads back through the model.
    with workspace_scope(world.a):
        assert Invitation.objects.get().email == "secret.person@a.example"


def test_the_team_page_sends_invitations(client, world, django_capture_on_commit_callbacks):
    client.force_login(world.alice)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/w/alpha/team/invite/", {"email": "neha@a.example", "role": "manager"}
        )

    assert response.status_code == 302
    assert response["Location"] == "/w/alpha/team/"
    assert mail.outbox[-1].to == ["neha@a.example"]
    assert "Alice" in mail.outbox[-1].body
    page = client.get("/w/alpha/team/").content.decode()
    assert "neha@a.example" in page


def test_the_team_page_tells_why_an_invitation_was_refused(client, world):
    client.force_login(world.alice)

    response = client.post("/w/alpha/team/invite/", {"email": "bob@a.example", "role": "sales"})

    assert response.status_code == 200
    assert "already a member" in response.content.decode()
    assert mail.outbox == []


def test_a_manager_is_offered_and_allowed_only_the_sales_role(client, world, manager):
    client.force_login(manager)

    page = client.get("/w/alpha/team/")
    assert [value for value, _ in page.context["invite_form"].fields["role"].choices] == ["sales"]
    response = client.post("/w/alpha/team/invite/", {"email": "x@a.example", "role": "manager"})

    assert response.status_code == 200
    assert response.context["invite_form"].errors["role"]
    with workspace_scope(world.a):
        assert not Invitation.objects.exists()


def test_revoking_stops_the_link_and_is_audited(client, world, invite):
    invitation, token = invite("new@a.example", role=Role.MANAGER)
    client.force_login(world.alice)

    response = client.post(f"/w/alpha/team/invitations/{invitation.pk}/revoke/")

    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    event = AuditEvent.objects.get(action="invitation_revoked")
    assert event.target_id == str(invitation.pk)
    assert event.metadata == {"role": "manager"}
    visitor = client.__class__()
    visitor.get(f"/invitations/{token}/")
    assert visitor.get("/invitations/accept/").status_code == 410


def test_revoking_through_htmx_removes_the_row(client, world, invite):
    invitation, _ = invite("new@a.example")
    client.force_login(world.alice)

    response = client.post(
        f"/w/alpha/team/invitations/{invitation.pk}/revoke/", headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.content == b""


def test_a_manager_may_not_revoke_an_invitation_they_could_not_have_sent(world, manager, invite):
    invitation, _ = invite("boss@a.example", role=Role.OWNER)

    with pytest.raises(PermissionDenied):
        invitation_revoke(
            workspace=world.a, actor=Actor.user(manager.pk, "manager"), invitation=invitation
        )
    sales_invitation, _ = invite("rep@a.example", role=Role.SALES)
    invitation_revoke(
        workspace=world.a, actor=Actor.user(manager.pk, "manager"), invitation=sales_invitation
    )
    sales_invitation.refresh_from_db()
    assert sales_invitation.revoked_at is not None


def test_an_accepted_invitation_cannot_be_revoked(world, invite):
    invitation, _ = invite("charlie@b.example")
    invitation_accept(
        workspace=world.a,
        actor=Actor.user(world.charlie.pk, "sales"),
        invitation=invitation,
        user=world.charlie,
    )

    with pytest.raises(InvitationAlreadyAccepted):
        invitation_revoke(
            workspace=world.a, actor=Actor.user(world.alice.pk, "owner"), invitation=invitation
        )


def test_a_mail_failure_keeps_the_invitation_and_logs_no_address(
    world, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("cannot reach mail server for new@a.example")

    monkeypatch.setattr(services, "send_mail", refuse)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        invitation = _create(world, actor_role=Role.OWNER, role=Role.SALES)

    with workspace_scope(world.a):
        assert Invitation.objects.filter(pk=invitation.pk).exists()
    assert "invitation e-mail could not be sent" in caplog.text
    assert "new@a.example" not in caplog.text
    assert all("new@a.example" not in str(r.__dict__) for r in caplog.records)
