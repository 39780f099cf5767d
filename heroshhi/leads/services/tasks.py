"""Follow-up tasks on a lead: create, complete, reopen."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.models import Lead, Task, TimelineEvent
from heroshhi.leads.selectors import Viewer, viewer_for
from heroshhi.leads.services.common import (
    actor_role,
    ensure_own_member,
    lead_audit,
    require_visible,
    timeline_add,
)
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def _task_lead_visible(*, actor: Actor, task: Task) -> Viewer:
    viewer = viewer_for(actor=actor)
    require_visible(viewer=viewer, lead=task.lead)
    return viewer


def _task_timeline_and_audit(
    *, workspace: Workspace, actor: Actor, task: Task, kind: str, reason: str
) -> None:
    timeline_add(
        workspace=workspace, actor=actor, lead=task.lead, kind=kind, data={"task": str(task.pk)}
    )
    lead_audit(
        workspace=workspace,
        actor=actor,
        action=AuditAction.LEAD_UPDATED,
        lead=task.lead,
        reason=reason,
        metadata={"fields": ["tasks"], "task": str(task.pk)},
    )


@transaction.atomic
def task_create(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    title: str,
    due_at: datetime,
    assignee: Membership | None = None,
) -> Task:
    """A follow-up on a lead. Unless told otherwise it goes to the lead's owner, else to
    whoever creates it. Sales may add tasks only on their own leads, for themselves."""
    require_capability(actor_role(actor), Capability.TASKS_WRITE)
    data = validation.collect(
        {
            "title": lambda: validation.clean_task_title(title),
            "assignee": lambda: ensure_own_member(workspace, assignee),
        }
    )
    if timezone.is_naive(due_at):
        raise ValidationError({"due_at": [_("Give the due time with its time zone.")]})
    with workspace_scope(workspace):
        viewer = viewer_for(actor=actor)
        require_visible(viewer=viewer, lead=lead)
        chosen: Membership | None = data["assignee"]
        chosen_id = chosen.pk if chosen is not None else (lead.owner_id or viewer.member_id)
        if not viewer.sees_all and chosen_id != viewer.member_id:
            raise PermissionDenied(Capability.LEADS_ASSIGN.value)
        task = Task.objects.create(
            workspace=workspace,
            lead=lead,
            title=data["title"],
            due_at=due_at,
            assignee_id=chosen_id,
            created_by_id=viewer.member_id,
        )
        lead.last_activity_at = timezone.now()
        lead.save(update_fields=["last_activity_at"])
        _task_timeline_and_audit(
            workspace=workspace,
            actor=actor,
            task=task,
            kind=TimelineEvent.Kind.TASK_ADDED,
            reason="task_added",
        )
    return task


@transaction.atomic
def task_complete(*, workspace: Workspace, actor: Actor, task: Task) -> Task:
    require_capability(actor_role(actor), Capability.TASKS_WRITE)
    with workspace_scope(workspace):
        _task_lead_visible(actor=actor, task=task)
        if task.done_at is not None:
            return task
        task.done_at = timezone.now()
        task.save(update_fields=["done_at"])
        _task_timeline_and_audit(
            workspace=workspace,
            actor=actor,
            task=task,
            kind=TimelineEvent.Kind.TASK_DONE,
            reason="task_done",
        )
    return task


@transaction.atomic
def task_reopen(*, workspace: Workspace, actor: Actor, task: Task) -> Task:
    require_capability(actor_role(actor), Capability.TASKS_WRITE)
    with workspace_scope(workspace):
        _task_lead_visible(actor=actor, task=task)
        if task.done_at is None:
            return task
        task.done_at = None
        # A reopened task that is already due gets a fresh reminder.
        task.reminded_at = None
        task.save(update_fields=["done_at", "reminded_at"])
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_UPDATED,
            lead=task.lead,
            reason="task_reopened",
            metadata={"fields": ["tasks"], "task": str(task.pk)},
        )
    return task
