"""Suspending and reactivating a workspace: the services, the console actions, and what a
suspension does to the workspace's members and API keys (and not to anyone else)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import PLATFORM_CHAIN, AuditEvent
from heroshhi.audit.verify import verify_chains
from heroshhi.core.actors import Actor
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.platform_admin import services
from heroshhi.workspaces.platform_admin.selectors import workspace_is_active
from heroshhi.workspaces.platform_admin.services import workspace_reactivate, workspace_suspend
from heroshhi.workspaces.platform_admin.tests.helpers import issue_key, login
from heroshhi.workspaces.services import membership_create

SUSPENDED_NOTICE = "This workspace is suspended"


def _status_events(chain: str, action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=chain, action=action).order_by("seq"))


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- Services ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "before", "after", "action"),
    [
        (workspace_suspend, "active", "suspended", AuditAction.WORKSPACE_SUSPENDED),
        (workspace_reactivate, "suspended", "active", AuditAction.WORKSPACE_REACTIVATED),
    ],
)
def test_a_status_change_is_audited_on_the_platform_and_the_workspace_chain(
    world, operator, service, before, after, action
):
    Workspace.objects.filter(pk=world.a.pk).update(status=before)

    service(workspace=world.a, actor=operator, reason="security")

    world.a.refresh_from_db()
    assert world.a.status == after
    for chain in (PLATFORM_CHAIN, str(world.a.pk)):
        (event,) = _status_events(chain, action)
        assert (event.target_type, event.target_id) == ("workspace", str(world.a.pk))
        assert event.metadata == {"reason": "security"}
        assert (event.actor_type, event.actor_id) == ("platform_admin", operator.id)
    assert all(result.ok for result in verify_chains())


def test_only_a_reason_from_the_list_is_accepted(world, operator):
    with pytest.raises(ValidationError) as refused:
        workspace_suspend(workspace=world.a, actor=operator, reason="they were rude")
    assert refused.value.code == "invalid_reason"
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE
    assert not _status_events(PLATFORM_CHAIN, AuditAction.WORKSPACE_SUSPENDED)


@pytest.mark.parametrize(
    ("service", "status"),
    [
        (workspace_suspend, "suspended"),
        (workspace_suspend, "terminating"),
        (workspace_reactivate, "active"),
        (workspace_reactivate, "terminating"),
    ],
)
def test_a_change_that_does_not_fit_the_current_status_is_refused(world, operator, service, status):
    Workspace.objects.filter(pk=world.a.pk).update(status=status)
    with pytest.raises(ValidationError):
        service(workspace=world.a, actor=operator, reason="other")
    world.a.refresh_from_db()
    assert world.a.status == status
    assert not AuditEvent.objects.filter(chain=PLATFORM_CHAIN).exists()


@pytest.mark.parametrize(
    "actor",
    [Actor.user("someone", role=Role.OWNER), Actor.anonymous()],
    ids=["workspace-owner", "anonymous"],
)
def test_only_a_platform_actor_may_change_the_status(world, actor):
    with pytest.raises(PermissionDenied):
        workspace_suspend(workspace=world.a, actor=actor, reason="abuse")
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE


def test_the_change_and_both_events_commit_together_or_not_at_all(world, operator):
    real = services.audit_record
    calls = []

    def fail_on_the_platform_chain(**kwargs):
        calls.append(kwargs["workspace"])
        if kwargs["workspace"] is None:
            raise RuntimeError("audit storage down")
        return real(**kwargs)

    with (
        mock.patch.object(services, "audit_record", side_effect=fail_on_the_platform_chain),
        pytest.raises(RuntimeError),
    ):
        workspace_suspend(workspace=world.a, actor=operator, reason="abuse")

    assert calls == [world.a, None]
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE
    assert not _status_events(str(world.a.pk), AuditAction.WORKSPACE_SUSPENDED)


def test_only_an_active_workspace_may_act_on_the_outside_world(world, operator):
    assert workspace_is_active(world.a)
    workspace_suspend(workspace=world.a, actor=operator, reason="billing")
    assert not workspace_is_active(world.a)
    world.b.status = Workspace.Status.TERMINATING
    assert not workspace_is_active(world.b)


# --- Console actions --------------------------------------------------------------------


def _suspend_url(workspace: Workspace) -> str:
    return reverse("platform:workspace_suspend", kwargs={"workspace_id": workspace.pk})


def _reactivate_url(workspace: Workspace) -> str:
    return reverse("platform:workspace_reactivate", kwargs={"workspace_id": workspace.pk})


def test_staff_suspend_from_the_console_with_a_reason(staff_client: Client, world, staff):
    response = staff_client.post(_suspend_url(world.a), {"reason": "owner_request"}, follow=True)

    assert response.status_code == 200
    assert "Workspace suspended." in response.content.decode()
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.SUSPENDED
    (event,) = _status_events(PLATFORM_CHAIN, AuditAction.WORKSPACE_SUSPENDED)
    assert event.actor_id == str(staff.pk)
    assert event.metadata == {"reason": "owner_request"}
    # The detail page now says why, and offers reactivation instead.
    html = response.content.decode()
    assert "The owner asked for it" in html
    assert "Reactivate workspace" in html


def test_the_owner_sees_the_request_id_but_not_the_operators_address(staff_client: Client, world):
    staff_client.post(
        _suspend_url(world.a),
        {"reason": "abuse"},
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT="OperatorBrowser/1.0",
    )

    (platform,) = _status_events(PLATFORM_CHAIN, AuditAction.WORKSPACE_SUSPENDED)
    (workspace,) = _status_events(str(world.a.pk), AuditAction.WORKSPACE_SUSPENDED)
    assert platform.ip == "198.51.100.7"
    assert platform.user_agent == "OperatorBrowser/1.0"
    assert (workspace.ip, workspace.user_agent) == (None, "")
    assert workspace.request_id == platform.request_id != ""


@pytest.mark.parametrize("data", [{}, {"reason": ""}, {"reason": "spite"}])
def test_the_console_refuses_a_suspension_without_a_listed_reason(
    staff_client: Client, world, data
):
    response = staff_client.post(_suspend_url(world.a), data)
    assert response.status_code == 400
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE


def test_suspending_twice_says_so_instead_of_failing(staff_client: Client, world, operator):
    workspace_suspend(workspace=world.a, actor=operator, reason="abuse")
    response = staff_client.post(_suspend_url(world.a), {"reason": "abuse"}, follow=True)
    assert "Only an active workspace can be suspended." in response.content.decode()
    assert len(_status_events(PLATFORM_CHAIN, AuditAction.WORKSPACE_SUSPENDED)) == 1


# --- Effects of a suspension ------------------------------------------------------------


@pytest.fixture
def suspended(world, operator):
    workspace_suspend(workspace=world.a, actor=operator, reason="billing")
    return world


@pytest.mark.parametrize("who", ["alice", "bob"])
@pytest.mark.parametrize("path", ["/w/alpha/", "/w/alpha/settings/audit/"])
def test_members_of_a_suspended_workspace_get_the_suspended_page(
    client: Client, suspended, who, path
):
    login(client, getattr(suspended, who))
    response = client.get(path)
    assert response.status_code == 403
    html = response.content.decode()
    assert SUSPENDED_NOTICE in html
    assert "Alpha Traders" not in html
    assert "<table" not in html


def test_the_owner_is_told_whom_to_contact(client: Client, suspended):
    owner_page = login(client, suspended.alice).get("/w/alpha/").content.decode()
    assert "Contact Heroshhi Pro support" in owner_page
    client.logout()
    sales_page = login(client, suspended.bob).get("/w/alpha/").content.decode()
    assert "Ask the owner" in sales_page


def test_an_htmx_request_reloads_the_page_to_show_the_notice(client: Client, suspended):
    login(client, suspended.alice)
    response = client.get("/w/alpha/settings/audit/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["HX-Refresh"] == "true"


def test_a_non_member_still_gets_404_and_learns_nothing_of_the_suspension(
    client: Client, suspended
):
    login(client, suspended.charlie)
    response = client.get("/w/alpha/")
    assert response.status_code == 404
    assert SUSPENDED_NOTICE not in response.content.decode()


def test_the_other_workspace_is_unaffected(client: Client, suspended):
    login(client, suspended.charlie)
    for path in ("/w/beta/", "/w/beta/settings/audit/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert SUSPENDED_NOTICE not in response.content.decode()


def test_the_notice_offers_the_members_other_workspaces_only_if_active(
    client: Client, suspended, operator
):
    membership_create(workspace=suspended.b, user=suspended.bob, role=Role.SALES)
    login(client, suspended.bob)
    assert "Beta Exports" in client.get("/w/alpha/").content.decode()
    workspace_suspend(workspace=suspended.b, actor=operator, reason="abuse")
    assert "Beta Exports" not in client.get("/w/alpha/").content.decode()


def test_api_keys_of_a_suspended_workspace_are_refused_with_a_typed_error(client: Client, world):
    alpha_key, beta_key = issue_key(world.a), issue_key(world.b)
    Workspace.objects.filter(pk=world.a.pk).update(status=Workspace.Status.SUSPENDED)

    refused = client.get("/api/v1/me", headers=_bearer(alpha_key))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "workspace_suspended"
    assert client.get("/api/v1/me", headers=_bearer(beta_key)).status_code == 200


def test_reactivation_restores_members_and_api_keys(client: Client, world, operator):
    key = issue_key(world.a)
    workspace_suspend(workspace=world.a, actor=operator, reason="billing")
    login(client, world.alice)
    assert client.get("/w/alpha/settings/audit/").status_code == 403
    assert client.get("/api/v1/me", headers=_bearer(key)).status_code == 403

    workspace_reactivate(workspace=world.a, actor=operator, reason="billing")

    page = client.get("/w/alpha/settings/audit/")
    assert page.status_code == 200
    assert SUSPENDED_NOTICE not in page.content.decode()
    assert client.get("/api/v1/me", headers=_bearer(key)).status_code == 200


def test_staff_reactivate_from_the_console(staff_client: Client, suspended):
    response = staff_client.post(_reactivate_url(suspended.a), {"reason": "billing"})
    assert response.status_code == 302
    suspended.a.refresh_from_db()
    assert suspended.a.status == Workspace.Status.ACTIVE
    for chain in (PLATFORM_CHAIN, str(suspended.a.pk)):
        (event,) = _status_events(chain, AuditAction.WORKSPACE_REACTIVATED)
        assert event.metadata == {"reason": "billing"}
