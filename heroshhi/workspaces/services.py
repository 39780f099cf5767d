"""Writes for workspaces."""

from __future__ import annotations

from django.db import transaction

from heroshhi.workspaces.models import Workspace


@transaction.atomic
def workspace_create(*, name: str, slug: str, plan: str = "trial") -> Workspace:
    workspace = Workspace(name=name, slug=slug, plan=plan)
    workspace.full_clean()
    workspace.save()
    return workspace
