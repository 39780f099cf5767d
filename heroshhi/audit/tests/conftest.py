from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from unittest import mock

import pytest

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.workspaces.models import Workspace

NOW = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def workspace_a(db: None) -> Workspace:
    return Workspace.objects.create(slug="alice-co", name="Alice Co")


@pytest.fixture
def workspace_b(db: None) -> Workspace:
    return Workspace.objects.create(slug="charlie-co", name="Charlie Co")


@pytest.fixture
def alice() -> Actor:
    return Actor.user(uuid.uuid4(), role="owner")


Record = Callable[..., AuditEvent]


@pytest.fixture
def record(alice: Actor) -> Record:
    """audit_record with defaults, optionally at a fixed moment (``at=``); the event as
    stored, so linked once the sequencer has run (at once, unless ``audit_queue``)."""

    def _record(
        workspace: Workspace | None,
        action: AuditAction = AuditAction.LEAD_UPDATED,
        *,
        at: datetime | None = None,
        **kwargs: object,
    ) -> AuditEvent:
        kwargs.setdefault("actor", alice)
        kwargs.setdefault("target", ("lead", uuid.uuid4()))
        with mock.patch("django.utils.timezone.now", return_value=at) if at else nullcontext():
            event = audit_record(workspace=workspace, action=action, **kwargs)  # type: ignore[arg-type]
        return AuditEvent.objects.get(pk=event.pk)

    return _record
