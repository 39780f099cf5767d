"""Reads of follow-up tasks: a lead's tasks and a member's day."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import F
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Notification, Task
from heroshhi.workspaces.models import Workspace


def lead_tasks(*, workspace: Workspace, lead: Lead) -> list[Task]:
    with workspace_scope(workspace):
        return list(
            Task.objects.filter(lead=lead)
            .select_related("assignee__user")
            .order_by(F("done_at").asc(nulls_first=True), "due_at", "id")
        )


@dataclass(frozen=True, slots=True)
class MyTasks:
    overdue: list[Task]
    today: list[Task]
    unread_notifications: int


def local_day_end(now: datetime) -> datetime:
    """The end of ``now``'s day in the workspace time zone (Asia/Kolkata)."""
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date() + timedelta(days=1), time.min))


def my_tasks(*, workspace: Workspace, member_id: uuid.UUID, now: datetime | None = None) -> MyTasks:
    """Open tasks of one member on live leads they can see: overdue ones and the rest of
    today (Indian time); three queries."""
    now = now or timezone.now()
    with workspace_scope(workspace):
        tasks = list(
            Task.objects.filter(
                assignee_id=member_id,
                done_at__isnull=True,
                due_at__lt=local_day_end(now),
                lead__deleted_at__isnull=True,
            )
            .select_related("lead")
            .order_by("due_at", "id")
        )
        unread = Notification.objects.filter(recipient_id=member_id, read_at__isnull=True).count()
    return MyTasks(
        overdue=[t for t in tasks if t.due_at < now],
        today=[t for t in tasks if t.due_at >= now],
        unread_notifications=unread,
    )
