"""Fetch one lead by id for a viewer: the same 404 for missing, foreign, trashed and not-yours."""

from __future__ import annotations

import uuid

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.models import Lead, Stage, Task
from heroshhi.leads.selectors import Viewer, visible_leads
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def access_lead(
    *,
    workspace: Workspace,
    actor_role: str,
    member_id: uuid.UUID | None,
    uid: object,
    perm: Capability = Capability.LEADS_VIEW_ASSIGNED,
    trashed: bool = False,
) -> Lead:
    """The lead, or Http404. ``trashed=True`` finds leads in the trash instead of live ones.

    A role without ``perm`` gets PermissionDenied: that says nothing about the lead.
    """
    require_capability(actor_role, perm)
    viewer = Viewer(role=actor_role, member_id=member_id)
    with workspace_scope(workspace):
        leads = visible_leads(viewer=viewer).filter(deleted_at__isnull=not trashed)
        return get_in_scope_or_404(leads.select_related("stage", "owner__user"), uid)


def access_stage(*, workspace: Workspace, actor_role: str, uid: object) -> Stage:
    """One of the workspace's stages for someone who may configure the pipeline, or 404."""
    require_capability(actor_role, Capability.PIPELINE_CONFIGURE)
    with workspace_scope(workspace):
        return get_in_scope_or_404(Stage.objects.all(), uid)


def access_task(
    *, workspace: Workspace, actor_role: str, member_id: uuid.UUID | None, uid: object
) -> Task:
    """A task on a live lead this viewer may see, or 404 (the same for every other case)."""
    require_capability(actor_role, Capability.TASKS_WRITE)
    viewer = Viewer(role=actor_role, member_id=member_id)
    with workspace_scope(workspace):
        lead_ids = visible_leads(viewer=viewer).filter(deleted_at__isnull=True).values("pk")
        tasks = Task.objects.filter(lead_id__in=lead_ids).select_related("lead")
        return get_in_scope_or_404(tasks, uid)
