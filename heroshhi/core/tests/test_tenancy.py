"""Tenant scoping fails closed."""

import pytest
from django.apps import apps
from django.db import models
from django.http import Http404

from heroshhi.core.tenancy import (
    WorkspaceOwned,
    WorkspaceScopedManager,
    WorkspaceScopeMismatch,
    WorkspaceScopeMissing,
    get_in_scope_or_404,
    workspace_scope,
)
from heroshhi.workspaces.models import Membership, Workspace

# Models that carry a workspace reference but are deliberately not tenant-scoped, each
# with the reason. Anything else with a workspace FK must subclass WorkspaceOwned.
PLATFORM_LEVEL_MODELS = {
    # Key material is read while decrypting, before and outside any request scope.
    "core.WorkspaceKey",
    # The audit trail outlives the workspace and is verified per chain by platform jobs.
    "audit.AuditEvent",
    "audit.AuditChainHead",
    "audit.AuditCheckpoint",
}


def _points_at_workspace(model: type[models.Model]) -> bool:
    return any(
        isinstance(field, models.ForeignKey) and field.related_model is Workspace
        for field in model._meta.get_fields()
        if field.concrete
    )


def test_every_model_with_a_workspace_is_scoped():
    unscoped = []
    for model in apps.get_models():
        label = model._meta.label
        if not _points_at_workspace(model) or label in PLATFORM_LEVEL_MODELS:
            continue
        scoped = issubclass(model, WorkspaceOwned) and isinstance(
            model._default_manager, WorkspaceScopedManager
        )
        if not scoped:
            unscoped.append(label)
    assert unscoped == [], f"models with a workspace FK that are not scoped: {unscoped}"


def test_queries_outside_a_scope_raise(world):
    with pytest.raises(WorkspaceScopeMissing):
        list(Membership.objects.all())


def test_queries_inside_a_scope_see_only_that_workspace(world):
    with workspace_scope(world.a):
        users = {m.user_id for m in Membership.objects.all()}
    assert users == {world.alice.pk, world.bob.pk}
    with workspace_scope(world.b):
        assert [m.user_id for m in Membership.objects.all()] == [world.charlie.pk]


def test_the_named_bypass_sees_every_workspace(world):
    assert Membership.objects.unscoped().count() == 3


def test_saving_a_row_of_another_workspace_inside_a_scope_raises(world):
    with workspace_scope(world.a):
        membership = Membership(workspace=world.b, user=world.alice, role="sales")
        with pytest.raises(WorkspaceScopeMismatch):
            membership.save()


def test_fetch_by_id_gives_the_same_404_for_missing_and_foreign_rows(world):
    with workspace_scope(world.b):
        foreign = Membership.objects.unscoped().filter(workspace=world.a).first()
        assert foreign is not None
        with pytest.raises(Http404):
            get_in_scope_or_404(Membership.objects.all(), foreign.pk)
        with pytest.raises(Http404):
            get_in_scope_or_404(Membership.objects.all(), "not-a-uuid")
        own = Membership.objects.get()
        assert get_in_scope_or_404(Membership.objects.all(), str(own.pk)) == own
