"""Workspace scoping that fails closed.

Tenant models subclass ``WorkspaceOwned``. Their default manager refuses to build a query
outside a ``workspace_scope(...)`` and filters to that workspace inside one, so forgetting a
filter raises instead of leaking another business's rows. The only bypass is spelled
``Model.objects.unscoped()`` so it can be found with grep and reviewed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ClassVar, Protocol

from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.http import Http404

_current_workspace_id: ContextVar[uuid.UUID | None] = ContextVar(
    "current_workspace_id", default=None
)


class WorkspaceScopeMissing(RuntimeError):
    """A tenant model was queried with no workspace scope set."""


class WorkspaceScopeMismatch(RuntimeError):
    """A row of one workspace was written while another workspace was in scope."""


class Tenant(Protocol):
    """All scoping needs of a workspace: its id. Core is the bottom layer and names no
    domain model; the workspaces app's ``Workspace`` is the one tenant."""

    @property
    def pk(self) -> uuid.UUID: ...


def _as_id(workspace: Tenant | uuid.UUID) -> uuid.UUID:
    return workspace if isinstance(workspace, uuid.UUID) else workspace.pk


@contextmanager
def workspace_scope(workspace: Tenant | uuid.UUID) -> Iterator[uuid.UUID]:
    token = _current_workspace_id.set(_as_id(workspace))
    try:
        yield _as_id(workspace)
    finally:
        _current_workspace_id.reset(token)


def current_workspace_id() -> uuid.UUID:
    workspace_id = _current_workspace_id.get()
    if workspace_id is None:
        raise WorkspaceScopeMissing(
            "No workspace in scope: wrap the code in workspace_scope(...) or use "
            "Model.objects.unscoped() in a reviewed platform-level function."
        )
    return workspace_id


def workspace_in_scope() -> uuid.UUID | None:
    return _current_workspace_id.get()


class WorkspaceScopedManager[M: models.Model](models.Manager[M]):
    def get_queryset(self) -> models.QuerySet[M]:
        return super().get_queryset().filter(workspace_id=current_workspace_id())

    def unscoped(self) -> models.QuerySet[M]:
        """Every workspace's rows. For platform jobs and webhook routing only."""
        return super().get_queryset()


class WorkspaceOwned(models.Model):
    """Base of every tenant model: UUID id, owning workspace, scoped default manager."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False
    )

    objects: ClassVar[WorkspaceScopedManager[Any]] = WorkspaceScopedManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        in_scope = workspace_in_scope()
        if in_scope is not None and self.workspace_id != in_scope:
            raise WorkspaceScopeMismatch(
                f"{type(self).__name__} belongs to another workspace than the one in scope."
            )
        super().save(*args, **kwargs)


def parse_uuid_or_404(value: object) -> uuid.UUID:
    """Public ids are UUIDs; anything else is simply not found."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise Http404 from None


def get_in_scope_or_404[M: models.Model](queryset: models.QuerySet[M], uid: object) -> M:
    """The same 404 for 'does not exist' and 'belongs to someone else'."""
    try:
        return queryset.get(pk=parse_uuid_or_404(uid))
    except ObjectDoesNotExist:
        raise Http404 from None
