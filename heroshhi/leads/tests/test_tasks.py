"""Follow-up tasks, the My tasks page and due reminders."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import tasks as celery_tasks
from heroshhi.leads.models import Notification, Task, TimelineEvent
from heroshhi.leads.selectors_tasks import local_day_end
from heroshhi.leads.services.reminders import task_reminders_send
from heroshhi.leads.services.tasks import task_complete, task_create, task_reopen
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")


def _url(name, world, **kwargs):
    return reverse(f"leads:{name}", kwargs={"slug": world.a.slug, **kwargs})


def _task(world, actor, lead, *, hours=-1, title="Call Priya back"):
    return task_create(
        workspace=world.a,
        actor=actor,
        lead=lead,
        title=title,
        due_at=timezone.now() + timedelta(hours=hours),
    )


def test_a_task_is_encrypted_goes_to_the_owner_and_lands_in_the_timeline(
    world, alice, bob, bob_member, make_lead
):
    lead = make_lead(owner=bob_member)
    task = _task(world, alice, lead)
    assert task.assignee_id == bob_member.pk
    with workspace_scope(world.a):
        raw = Task.objects.filter(pk=task.pk).values_list("title", flat=True).get()
        kinds = list(TimelineEvent.objects.filter(lead=lead).values_list("kind", flat=True))
    assert "Priya" not in str(raw)
    assert "task_added" in kinds
    event = AuditEvent.objects.filter(reason="task_added").get()
    assert "Priya" not in str(event.metadata)
    task_complete(workspace=world.a, actor=bob, task=task)
    assert task.done_at is not None
    with workspace_scope(world.a):
        assert TimelineEvent.objects.filter(lead=lead, kind="task_done").count() == 1
    task_reopen(workspace=world.a, actor=bob, task=task)
    assert task.done_at is None


def test_sales_add_tasks_only_on_their_own_leads(world, bob, make_lead):
    own = make_lead(actor=bob, name="Own")
    other = make_lead(name="Other")
    assert _task(world, bob, own).assignee.user == world.bob
    with pytest.raises(Http404):
        _task(world, bob, other)


def test_sales_cannot_hand_a_task_to_someone_else(world, bob, make_lead):
    own = make_lead(actor=bob)
    with workspace_scope(world.a):
        alice_member = Membership.objects.get(user=world.alice)
    with pytest.raises(PermissionDenied):
        task_create(
            workspace=world.a,
            actor=bob,
            lead=own,
            title="x",
            due_at=timezone.now(),
            assignee=alice_member,
        )


def test_reminders_are_sent_once_for_due_open_tasks(world, alice, bob_member, make_lead):
    lead = make_lead(owner=bob_member)
    due = _task(world, alice, lead, hours=-1)
    later = _task(world, alice, lead, hours=5)
    done = _task(world, alice, lead, hours=-2)
    task_complete(workspace=world.a, actor=alice, task=done)
    assert celery_tasks.task_reminders_send() == {"sent": 1}
    assert task_reminders_send() == 0  # a second run (or a second worker) finds nothing
    with workspace_scope(world.a):
        notes = list(Notification.objects.all())
        assert Task.objects.get(pk=due.pk).reminded_at is not None
        assert Task.objects.get(pk=later.pk).reminded_at is None
    assert [(n.recipient_id, n.task_id, n.lead_id) for n in notes] == [
        (bob_member.pk, due.pk, lead.pk)
    ]


def test_a_claimed_task_is_not_reminded_again(world, alice, bob_member, make_lead):
    from heroshhi.leads.services.reminders import _task_remind

    lead = make_lead(owner=bob_member)
    task = _task(world, alice, lead)
    args = {"task_id": task.pk, "workspace_id": world.a.pk, "assignee_id": bob_member.pk}
    assert _task_remind(lead_id=lead.pk, **args) == 1
    assert _task_remind(lead_id=lead.pk, **args) == 0


def test_the_day_ends_at_midnight_in_india():
    late_evening_utc = datetime(2026, 3, 1, 19, 0, tzinfo=ZoneInfo("UTC"))  # 00:30 IST on the 2nd
    assert local_day_end(late_evening_utc) == datetime(2026, 3, 3, 0, 0, tzinfo=IST)


def test_my_tasks_shows_overdue_and_today_with_unread_reminders(
    client, world, alice, bob, make_lead
):
    lead = make_lead(actor=bob, name="Asha")
    _task(world, bob, lead, hours=-3, title="Overdue call")
    _task(world, bob, lead, hours=24 * 3, title="Far away")
    task_reminders_send()
    client.login(email=world.bob.email, password=PASSWORD)
    page = client.get(_url("tasks", world)).content.decode()
    assert "Overdue call" in page
    assert "Far away" not in page
    assert "1 unread reminder" in page


def test_adding_and_finishing_a_task_from_the_lead_page(client, world, make_lead):
    lead = make_lead()
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.post(
        _url("task_add", world, lead_id=lead.pk),
        {"title": "Send quote", "due_at": "2030-01-02T10:30"},
    )
    assert response.status_code == 302
    with workspace_scope(world.a):
        task = Task.objects.get()
    assert task.due_at == datetime(2030, 1, 2, 10, 30, tzinfo=IST)
    assert "Send quote" in client.get(_url("detail", world, lead_id=lead.pk)).content.decode()
    client.post(_url("task_done", world, task_id=task.pk))
    with workspace_scope(world.a):
        assert Task.objects.get().done_at is not None
    bad = client.post(_url("task_add", world, lead_id=lead.pk), {"title": "", "due_at": "soon"})
    assert bad.status_code == 400


def test_bob_gets_404_on_a_task_of_someone_elses_lead(client, world, alice, make_lead):
    task = _task(world, alice, make_lead())
    client.login(email=world.bob.email, password=PASSWORD)
    assert client.post(_url("task_done", world, task_id=task.pk)).status_code == 404
