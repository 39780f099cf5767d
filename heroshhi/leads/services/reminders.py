"""Reminders of follow-up tasks that fell due (a periodic job)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Notification, Task

REMINDER_BATCH = 500


def task_reminders_send(*, now: datetime | None = None) -> int:
    """Remind assignees of open tasks that have fallen due, once each.

    Each task is claimed with a conditional UPDATE (``reminded_at`` still empty), so two
    workers running at once never remind twice. Returns how many reminders were made."""
    now = now or timezone.now()
    sent = 0
    while True:
        # The one cross-workspace read of tasks: which are due, by id.
        due = list(
            Task.objects.unscoped()
            .filter(
                done_at__isnull=True,
                reminded_at__isnull=True,
                due_at__lte=now,
                lead__deleted_at__isnull=True,
            )
            .order_by("due_at", "id")
            .values_list("pk", "workspace_id", "assignee_id", "lead_id")[:REMINDER_BATCH]
        )
        if not due:
            return sent
        for task_id, workspace_id, assignee_id, lead_id in due:
            sent += _task_remind(
                task_id=task_id, workspace_id=workspace_id, assignee_id=assignee_id, lead_id=lead_id
            )


@transaction.atomic
def _task_remind(*, task_id: Any, workspace_id: Any, assignee_id: Any, lead_id: Any) -> int:
    with workspace_scope(workspace_id):
        claimed = Task.objects.filter(
            pk=task_id, reminded_at__isnull=True, done_at__isnull=True
        ).update(reminded_at=timezone.now())
        if claimed != 1 or assignee_id is None:
            return 0
        Notification.objects.create(
            workspace_id=workspace_id,
            recipient_id=assignee_id,
            kind=Notification.Kind.TASK_DUE,
            lead_id=lead_id,
            task_id=task_id,
        )
    return 1
