"""A person's rights over their own account (P04): a copy of their data, and deletion with
re-authentication, refused while a workspace depends on them."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.accounts.data_rights import account_deletion_blockers
from heroshhi.accounts.models import ApiKey, User, UserSession
from heroshhi.accounts.services import api_key_create
from heroshhi.accounts.tests.conftest import (
    assert_no_personal_data,
    current_code,
    enable_two_factor,
    events,
    login,
)
from heroshhi.audit.models import PLATFORM_CHAIN, AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services.leads import lead_create
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import member_role_change

pytestmark = pytest.mark.django_db

DOWNLOAD = reverse("security:my_data_download")
DELETE = reverse("security:account_delete")


def _download(client: Client) -> dict:
    response = client.post(DOWNLOAD)
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    return json.loads(response.getvalue())


def test_the_copy_holds_profile_memberships_sessions_keys_and_own_events(client, world):
    login(client, world.alice.email)
    issued = api_key_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        created_by=world.alice,
        name="Zapier",
        role=Role.MANAGER,
    )
    login(Client(), world.bob.email)  # someone else's events stay out

    data = _download(client)

    assert data["profile"]["email"] == world.alice.email
    assert data["profile"]["two_factor"]["enabled"] is False
    assert data["memberships"] == [
        {
            "workspace_id": str(world.a.pk),
            "workspace_name": "Alpha Traders",
            "workspace_slug": "alpha",
            "role": "owner",
            "joined_at": data["memberships"][0]["joined_at"],
        }
    ]
    assert len(data["sessions"]) == 1
    assert "session_key" not in data["sessions"][0]
    session_key = UserSession.objects.get(user=world.alice).session_key
    [key] = data["api_keys_created"]
    assert key["name"] == "Zapier"
    assert key["prefix"] == issued.key.prefix
    text = json.dumps(data)
    assert issued.plaintext not in text
    assert ApiKey.objects.unscoped().get().secret_hash not in text
    assert session_key not in text
    actions = {e["action"] for e in data["audit_events"]}
    assert {"authn_login_success", "api_key_created"} <= actions
    uid = str(world.alice.pk)
    assert all(uid in (e["actor_id"], e["target_id"]) for e in data["audit_events"])
    assert str(world.bob.pk) not in text
    export = AuditEvent.objects.get(action="data_export", chain=PLATFORM_CHAIN)
    assert export.target_id == uid
    assert export.metadata == {"scope": "own_account"}


def test_the_page_needs_a_signed_in_person(client):
    assert client.get(reverse("security:my_data")).status_code == 302
    assert client.post(DOWNLOAD).status_code == 302
    assert client.post(DELETE, {"password": PASSWORD}).status_code == 302


def test_a_member_deletes_their_account_after_giving_the_password(client, world):
    with workspace_scope(world.a):
        bob_seat = Membership.objects.get(user=world.bob)
    lead = lead_create(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        name="Priya",
        phone="+919876543210",
        email=None,
        source="manual",
        owner=bob_seat,
    ).lead
    login(client, world.bob.email)
    other_device = Client()
    login(other_device, world.bob.email)
    page = client.get(reverse("security:my_data"))
    assert b"Delete my account" in page.content

    wrong = client.post(DELETE, {"password": "not my password"})
    assert wrong.status_code == 400
    assert User.objects.filter(pk=world.bob.pk).exists()

    done = client.post(DELETE, {"password": PASSWORD})
    assert done.status_code == 302
    assert not User.objects.filter(pk=world.bob.pk).exists()
    assert not Membership.objects.unscoped().filter(user_id=world.bob.pk).exists()
    assert not UserSession.objects.filter(user_id=world.bob.pk).exists()
    assert other_device.get(reverse("security:my_data")).status_code == 302  # signed out
    with workspace_scope(world.a):
        lead.refresh_from_db()
        assert lead.owner_id is None
        assert TimelineEvent.objects.filter(lead=lead, kind="assigned").exists()
    deleted = AuditEvent.objects.get(action="user_deleted")
    assert deleted.chain == PLATFORM_CHAIN
    assert deleted.target_id == str(world.bob.pk)
    assert deleted.metadata["memberships_removed"] == 1
    assert deleted.metadata["sessions_ended"] == 2
    removed = AuditEvent.objects.get(action="member_removed", chain=str(world.a.pk))
    assert removed.reason == "account_deleted"
    assert_no_personal_data(world)


def test_with_two_factor_the_code_is_asked_too(client, world, clock):
    secret, _codes = enable_two_factor(world.bob, clock)
    client.force_login(world.bob)

    missing = client.post(DELETE, {"password": PASSWORD})
    assert missing.status_code == 400
    assert b"authenticator app" in missing.content
    wrong = client.post(DELETE, {"password": PASSWORD, "code": "000000"})
    assert wrong.status_code == 400
    assert User.objects.filter(pk=world.bob.pk).exists()
    assert events("authn_mfa_fail")

    done = client.post(DELETE, {"password": PASSWORD, "code": current_code(secret, clock)})
    assert done.status_code == 302
    assert not User.objects.filter(pk=world.bob.pk).exists()


def test_the_only_owner_of_a_workspace_with_members_is_refused(client, world):
    [blocker] = account_deletion_blockers(user=world.alice)
    assert (blocker.workspace, blocker.reason) == (world.a, "other_members")
    client.force_login(world.alice)
    page = client.get(reverse("security:my_data"))
    assert b"only owner" in page.content

    refused = client.post(DELETE, {"password": PASSWORD})
    assert refused.status_code == 409
    assert User.objects.filter(pk=world.alice.pk).exists()
    assert Membership.objects.unscoped().filter(user=world.alice).exists()
    assert not AuditEvent.objects.filter(action="user_deleted").exists()


def test_an_owner_can_leave_once_someone_else_owns_the_workspace(client, world):
    with workspace_scope(world.a):
        bob_seat = Membership.objects.get(user=world.bob)
    member_role_change(
        workspace=world.a,
        actor=Actor.user(world.alice.pk, role=Role.OWNER),
        member=bob_seat,
        role=Role.OWNER,
    )
    assert account_deletion_blockers(user=world.alice) == []
    client.force_login(world.alice)
    assert client.post(DELETE, {"password": PASSWORD}).status_code == 302
    assert not User.objects.filter(pk=world.alice.pk).exists()
    assert Workspace.objects.get(pk=world.a.pk).status == Workspace.Status.ACTIVE


def test_an_empty_workspace_owned_alone_is_terminated_with_the_account(client, world):
    client.force_login(world.charlie)
    assert client.post(DELETE, {"password": PASSWORD}).status_code == 302

    assert not User.objects.filter(pk=world.charlie.pk).exists()
    beta = Workspace.objects.get(pk=world.b.pk)
    assert beta.status == Workspace.Status.TERMINATING
    assert beta.termination_requested_at is not None
    assert AuditEvent.objects.filter(chain=str(world.b.pk), action="workspace_terminated").exists()


def test_a_workspace_owned_alone_that_holds_leads_must_be_dealt_with_first(client, world):
    lead_create(
        workspace=world.b,
        actor=Actor.user(world.charlie.pk, role=Role.OWNER),
        name="Beta lead",
        phone=None,
        email=None,
        source="manual",
    )
    [blocker] = account_deletion_blockers(user=world.charlie)
    assert blocker.reason == "holds_data"
    client.force_login(world.charlie)
    assert client.post(DELETE, {"password": PASSWORD}).status_code == 409
    assert User.objects.filter(pk=world.charlie.pk).exists()
    with workspace_scope(world.b):
        assert Lead.objects.count() == 1
