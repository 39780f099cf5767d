"""Writes for workspaces and memberships."""

from __future__ import annotations

from django.db import transaction

from heroshhi.accounts.models import User
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role


@transaction.atomic
def workspace_create(
    *, actor: Actor, name: str, slug: str, owner: User, plan: str = "trial"
) -> Workspace:
    workspace = Workspace(name=name.strip(), slug=slug, plan=plan)
    workspace.full_clean()
    workspace.save()
    membership_create(workspace=workspace, user=owner, role=Role.OWNER)
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.WORKSPACE_CREATED,
        target=("workspace", str(workspace.pk)),
        metadata={"plan": plan},
    )
    return workspace


@transaction.atomic
def membership_create(*, workspace: Workspace, user: User, role: Role) -> Membership:
    with workspace_scope(workspace):
        membership = Membership(workspace=workspace, user=user, role=role)
        membership.full_clean()
        membership.save()
    return membership
