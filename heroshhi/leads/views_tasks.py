"""Follow-up tasks: "My tasks" (/w/<slug>/leads/tasks/), adding one on a lead, done/reopen."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from heroshhi.leads import selectors_tasks
from heroshhi.leads.access import access_task
from heroshhi.leads.forms import TaskForm, add_service_errors
from heroshhi.leads.models import Task
from heroshhi.leads.services.tasks import task_complete, task_create, task_reopen
from heroshhi.leads.views import _access, _actor, _detail, _membership, _workspace
from heroshhi.workspaces.permissions import Capability, has_capability


@require_GET
def my_tasks(request: HttpRequest, slug: str) -> HttpResponse:
    member = _membership(request)
    tasks = selectors_tasks.my_tasks(workspace=_workspace(request), member_id=member.pk)
    context = {
        "tasks": tasks,
        "can_write": has_capability(member.role, Capability.TASKS_WRITE),
    }
    return render(request, "leads/tasks.html", context)


@require_POST
def task_add(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _access(request, lead_id, Capability.TASKS_WRITE)
    form = TaskForm(request.POST)
    if form.is_valid():
        try:
            task_create(
                workspace=_workspace(request),
                actor=_actor(request),
                lead=lead,
                title=form.cleaned_data["title"],
                due_at=form.cleaned_data["due_at"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Task added."))
            return redirect("leads:detail", slug=slug, lead_id=lead.pk)
    return _detail(request, lead, task_form=form, status=400)


def _task(request: HttpRequest, task_id: uuid.UUID) -> Task:
    member = _membership(request)
    return access_task(
        workspace=_workspace(request), actor_role=member.role, member_id=member.pk, uid=task_id
    )


def _back(request: HttpRequest, slug: str, task: Task) -> HttpResponse:
    if request.POST.get("back") == "tasks":
        return redirect("leads:tasks", slug=slug)
    return redirect("leads:detail", slug=slug, lead_id=task.lead_id)


@require_POST
def task_done(request: HttpRequest, slug: str, task_id: uuid.UUID) -> HttpResponse:
    task = _task(request, task_id)
    task_complete(workspace=_workspace(request), actor=_actor(request), task=task)
    messages.success(request, _("Task done."))
    return _back(request, slug, task)


@require_POST
def task_undo(request: HttpRequest, slug: str, task_id: uuid.UUID) -> HttpResponse:
    task = _task(request, task_id)
    task_reopen(workspace=_workspace(request), actor=_actor(request), task=task)
    messages.success(request, _("Task reopened."))
    return _back(request, slug, task)
