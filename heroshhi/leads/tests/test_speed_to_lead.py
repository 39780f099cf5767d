"""Speed to lead: the owner hears at 15 minutes, managers and owners at 60, once each."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import PASSWORD
from heroshhi.accounts.services import user_create
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Notification
from heroshhi.leads.services.leads import lead_update
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.speed_to_lead import speed_to_lead_alerts
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.tasks import speed_to_lead_alerts as speed_to_lead_task
from heroshhi.workspaces.models import Membership
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create

pytestmark = pytest.mark.django_db

KIND = Notification.Kind


def _notices(world, kind):
    with workspace_scope(world.a):
        return sorted(
            str(rid)
            for rid in Notification.objects.filter(kind=kind).values_list("recipient_id", flat=True)
        )


@pytest.fixture
def manager(world):
    user = user_create(email="meera@a.example", password=PASSWORD, full_name="Meera")
    return membership_create(workspace=world.a, user=user, role=Role.MANAGER)


@pytest.fixture
def lead(make_lead, bob_member):
    return make_lead(owner=bob_member)


def test_nothing_happens_before_15_minutes(world, lead):
    assert speed_to_lead_alerts(now=lead.created_at + timedelta(minutes=14)) == {
        "alerted": 0,
        "escalated": 0,
    }
    assert _notices(world, KIND.SPEED_TO_LEAD) == []


def test_the_owner_is_told_once_at_16_minutes(world, lead, bob_member):
    at = lead.created_at + timedelta(minutes=16)

    assert speed_to_lead_alerts(now=at)["alerted"] == 1
    assert speed_to_lead_alerts(now=at + timedelta(minutes=1))["alerted"] == 0

    assert _notices(world, KIND.SPEED_TO_LEAD) == [str(bob_member.pk)]
    assert _notices(world, KIND.SPEED_TO_LEAD_ESCALATED) == []


def test_managers_and_owners_are_told_once_at_61_minutes(world, lead, manager):
    speed_to_lead_alerts(now=lead.created_at + timedelta(minutes=16))
    at = lead.created_at + timedelta(minutes=61)

    assert speed_to_lead_alerts(now=at)["escalated"] == 2
    assert speed_to_lead_alerts(now=at)["escalated"] == 0

    with workspace_scope(world.a):
        alice_member = Membership.objects.get(user=world.alice)
    assert _notices(world, KIND.SPEED_TO_LEAD_ESCALATED) == sorted(
        [str(alice_member.pk), str(manager.pk)]
    )
    assert len(_notices(world, KIND.SPEED_TO_LEAD)) == 1


def test_a_lead_moved_on_before_15_minutes_is_never_alerted(world, alice, lead, manager):
    contacted = stages_ensure_defaults(workspace=world.a)[1]
    lead_update(workspace=world.a, actor=alice, lead=lead, stage=contacted)

    for minutes in (16, 61, 120):
        speed_to_lead_alerts(now=lead.created_at + timedelta(minutes=minutes))

    assert _notices(world, KIND.SPEED_TO_LEAD) == []
    assert _notices(world, KIND.SPEED_TO_LEAD_ESCALATED) == []


def test_a_note_counts_as_activity(world, alice, lead):
    note_add(workspace=world.a, actor=alice, lead=lead, body="Called, no answer")

    assert speed_to_lead_alerts(now=lead.created_at + timedelta(minutes=16))["alerted"] == 0


def test_other_workspaces_leads_are_alerted_to_their_own_members_only(world, charlie, make_lead):
    other = make_lead(workspace=world.b, actor=charlie)

    speed_to_lead_alerts(now=other.created_at + timedelta(minutes=61))

    assert _notices(world, KIND.SPEED_TO_LEAD_ESCALATED) == []
    with workspace_scope(world.b):
        assert Notification.objects.filter(kind=KIND.SPEED_TO_LEAD_ESCALATED).count() == 1


def test_the_celery_task_takes_no_arguments(world, lead):
    assert speed_to_lead_task.apply().get() == {"alerted": 0, "escalated": 0}


def test_the_notifications_page_lists_and_marks_read(client, world, lead, bob_member):
    speed_to_lead_alerts(now=lead.created_at + timedelta(minutes=16))
    client.login(email=world.bob.email, password=PASSWORD)
    url = f"/w/{world.a.slug}/leads/notifications/"

    page = client.get(url).content.decode()
    assert 'data-unread="1"' in page
    assert "New lead waiting" in page

    assert client.post(url + "read/").status_code == 302
    assert 'data-unread="0"' in client.get(url).content.decode()


def test_charlie_sees_none_of_alices_notifications(client, world, lead):
    speed_to_lead_alerts(now=lead.created_at + timedelta(minutes=16))
    client.login(email=world.charlie.email, password=PASSWORD)

    assert client.get(f"/w/{world.a.slug}/leads/notifications/").status_code == 404
    assert (
        client.get(f"/w/{world.b.slug}/leads/notifications/")
        .content.decode()
        .count("New lead waiting")
        == 0
    )
