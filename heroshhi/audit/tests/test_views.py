"""The owner's audit log viewer at /w/<slug>/settings/audit/."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.accounts.models import User
from heroshhi.accounts.services import user_create
from heroshhi.audit import views
from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record
from heroshhi.audit.tests import tampering
from heroshhi.core.actors import Actor
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create

LOG = "/w/alpha/settings/audit/"
VERIFY = "/w/alpha/settings/audit/verify/"


def _login(client: Client, user: User) -> Client:
    assert client.login(email=user.email, password=PASSWORD)
    return client


def _events(world, action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=str(world.a.pk), action=action).order_by("seq"))


def _record_many(world, count: int) -> None:
    actor = Actor.user(world.alice.pk, role=Role.OWNER)
    for n in range(count):
        audit_record(
            workspace=world.a, actor=actor, action=AuditAction.LEAD_UPDATED, metadata={"n": n}
        )


@pytest.fixture
def manager(world) -> User:
    user = user_create(email="maya@a.example", password=PASSWORD, full_name="Maya")
    membership_create(workspace=world.a, user=user, role=Role.MANAGER)
    return user


def test_the_urls_are_the_documented_ones(world):
    assert reverse("audit:log", kwargs={"slug": "alpha"}) == LOG
    assert reverse("audit:verify", kwargs={"slug": "alpha"}) == VERIFY


def test_the_owner_sees_the_workspace_events_in_india_time(client: Client, world):
    at = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=at):
        audit_record(
            workspace=world.a,
            actor=Actor.user(world.alice.pk, role=Role.OWNER),
            action=AuditAction.MEMBER_ROLE_CHANGED,
            target=("membership", "m-1"),
        )

    response = _login(client, world.alice).get(LOG)

    assert response.status_code == 200
    html = response.content.decode()
    assert "01 Jun 2026, 17:30:05" in html  # 12:00:05 UTC is 17:30:05 in Asia/Kolkata
    assert "member_role_changed" in html
    assert "workspace_created" in html
    assert "user · owner" in html


def test_only_this_workspaces_events_are_listed(client: Client, world):
    audit_record(
        workspace=world.b,
        actor=Actor.user(world.charlie.pk, role=Role.OWNER),
        action=AuditAction.LEAD_DELETED,
        target=("lead", "beta-lead-1"),
    )
    response = _login(client, world.alice).get(LOG)
    chains = {event.chain for event in response.context["events"]}
    assert chains == {str(world.a.pk)}
    assert "beta-lead-1" not in response.content.decode()


@pytest.mark.parametrize("who", ["manager", "bob"])
def test_managers_and_sales_are_refused_and_the_refusal_is_recorded(
    client: Client, world, manager, who
):
    user = manager if who == "manager" else world.bob
    _login(client, user)

    assert client.get(LOG).status_code == 403
    assert client.post(VERIFY).status_code == 403

    refusals = _events(world, AuditAction.AUTHZ_FAIL)
    assert len(refusals) == 2
    assert {(e.outcome, e.reason, e.target_type) for e in refusals} == {
        (Outcome.DENIED, "audit.view", "audit_log")
    }
    assert not _events(world, AuditAction.SENSITIVE_READ)


def test_charlie_gets_404_for_another_workspaces_log(client: Client, world):
    _login(client, world.charlie)
    assert client.get(LOG).status_code == 404
    assert client.post(VERIFY).status_code == 404
    assert not _events(world, AuditAction.SENSITIVE_READ)


@pytest.mark.parametrize("slug", ["Alpha", "al_pha", "ALPHA"])
def test_a_slug_that_names_no_workspace_is_404_not_an_error(client: Client, world, slug):
    _login(client, world.alice)
    assert client.get(f"/w/{slug}/settings/audit/").status_code == 404
    assert client.post(f"/w/{slug}/settings/audit/verify/").status_code == 404


def test_a_signed_out_visitor_is_sent_to_sign_in(client: Client, world):
    response = client.get(LOG)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_each_page_view_records_one_sensitive_read(client: Client, world):
    _login(client, world.alice)
    client.get(LOG)
    client.get(LOG)

    reads = _events(world, AuditAction.SENSITIVE_READ)
    assert len(reads) == 2
    assert {(e.target_type, e.target_id) for e in reads} == {("audit_log", str(world.a.pk))}
    assert reads[0].actor_id == str(world.alice.pk)
    assert reads[0].actor_role == Role.OWNER


def test_keyset_pages_show_every_event_once_newest_first(client: Client, world, monkeypatch):
    _record_many(world, 7)
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    _login(client, world.alice)
    expected = list(
        AuditEvent.objects.filter(chain=str(world.a.pk))
        .order_by("-seq")
        .values_list("seq", flat=True)
    )

    seen: list[int] = []
    params: dict[str, int] = {}
    for _ in range(10):
        response = client.get(LOG, params)
        seen += [event.seq for event in response.context["events"]]
        next_before = response.context["next_before"]
        if next_before is None:
            break
        assert f"?before={next_before}" in response.content.decode()
        params = {"before": next_before}

    # Each page view appends a sensitive_read, after the first page was read.
    assert seen == expected


@pytest.mark.parametrize("before", ["abc", "-4", "0", ""])
def test_a_malformed_cursor_shows_the_newest_page(client: Client, world, before):
    response = _login(client, world.alice).get(LOG, {"before": before})
    assert response.status_code == 200
    assert response.context["is_first_page"]


def test_the_page_costs_the_same_number_of_queries_however_long_the_log(client: Client, world):
    _login(client, world.alice)
    client.get(LOG)
    with CaptureQueriesContext(connection) as short:
        client.get(LOG)
    _record_many(world, 40)
    with CaptureQueriesContext(connection) as long:
        client.get(LOG)
    assert len(long) == len(short)


def test_the_owner_verifies_the_chain_on_request(client: Client, world):
    _login(client, world.alice)
    with mock.patch.object(views, "verify_chains", wraps=views.verify_chains) as verify:
        client.get(LOG)
        assert verify.call_count == 0  # never on a page load
        response = client.post(VERIFY, follow=True)
        assert verify.call_count == 1
    assert response.status_code == 200
    assert "entries are intact" in response.content.decode()
    # Shown once: a reload does not repeat an old result as if it were new.
    assert "entries are intact" not in client.get(LOG).content.decode()


def test_a_tampered_chain_shows_the_first_problem(client: Client, world):
    _record_many(world, 3)
    tampering.edit_metadata(str(world.a.pk), 2, '{"n": 99}')

    response = _login(client, world.alice).post(VERIFY, follow=True)

    html = response.content.decode()
    assert "does not verify" in html
    assert "mac_mismatch" in html
    assert "at entry 2" in html


def test_platform_staff_cannot_open_the_log(client: Client, world):
    staff = user_create(email="ops@platform.example", password=PASSWORD)
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    _login(client, staff)
    assert client.get(LOG).status_code == 404
    assert client.post(VERIFY).status_code == 404
