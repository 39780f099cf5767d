"""Who gets a new lead, the unassigned pool and speed-to-lead alerts: the reads.

The writes live in ``heroshhi.leads.services``: ``assignment`` (the settings, the turn a
new ownerless lead takes, a member taking a lead from the pool), ``speed_to_lead`` (the
alerts) and ``notifications``. With ``sales_see_unassigned_pool`` on, sales also see
unassigned leads and may take one.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import (
    AssignmentSettings,
    Lead,
    Notification,
    SourceAssignment,
    Stage,
    TimelineEvent,
)
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

# Leads older than this are never alerted (no flood of old leads when the job first runs).
SPEED_LOOKBACK = timedelta(days=1)
# Timeline kinds that do not count as somebody working the lead.
_NOT_ACTIVITY = (TimelineEvent.Kind.CREATED, TimelineEvent.Kind.ENQUIRED_AGAIN)


def assignment_settings_get(*, workspace: Workspace) -> AssignmentSettings:
    """The workspace's settings; an unsaved default (mode none, no pool) when never set."""
    with workspace_scope(workspace):
        found = AssignmentSettings.objects.first()
    return found or AssignmentSettings(workspace=workspace)


def source_assignments(*, workspace: Workspace) -> dict[str, uuid.UUID]:
    with workspace_scope(workspace):
        return dict(SourceAssignment.objects.values_list("source", "member_id"))


def unassigned_pool_open() -> Exists:
    """An expression (for the workspace in scope): is the unassigned pool open to sales?"""
    return Exists(AssignmentSettings.objects.filter(sales_see_unassigned_pool=True))


def pool_open_for(*, workspace_id: Any) -> bool:
    with workspace_scope(workspace_id):
        return AssignmentSettings.objects.filter(sales_see_unassigned_pool=True).exists()


def round_robin_sequence(workspace_id: uuid.UUID | str) -> str:
    """The PostgreSQL sequence that counts one workspace's round-robin turns."""
    return f"leads_round_robin_{uuid.UUID(str(workspace_id)).hex}"


def round_robin_position(*, workspace: Workspace) -> int:
    """How many round-robin turns the workspace has handed out (the next turn's number)."""
    cursor = assignment_settings_get(workspace=workspace).round_robin_cursor
    if connection.vendor != "postgresql":
        return cursor
    with connection.cursor() as db:
        # NULL while the sequence has handed out nothing (or does not exist yet).
        db.execute(
            "SELECT pg_sequence_last_value(to_regclass(%s))",
            [round_robin_sequence(workspace.pk)],
        )
        (last,) = db.fetchone() or (None,)
    return cursor if last is None else last + 1


def round_robin_members() -> list[uuid.UUID]:
    return list(
        Membership.objects.filter(role=Role.SALES.value, user__is_active=True)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )


def waiting_leads(*, now: datetime, after: timedelta, claimed_field: str) -> QuerySet[Lead]:
    """Every workspace's live leads still in their first stage, untouched since creation."""
    first_stage = (
        Stage.objects.unscoped()
        .filter(workspace_id=OuterRef("workspace_id"))
        .order_by("position", "name")
        .values("pk")[:1]
    )
    activity = (
        TimelineEvent.objects.unscoped()
        .filter(lead_id=OuterRef("pk"))
        .exclude(kind__in=_NOT_ACTIVITY)
    )
    return (
        Lead.objects.unscoped()
        .filter(
            deleted_at__isnull=True,
            created_at__lte=now - after,
            created_at__gt=now - SPEED_LOOKBACK,
            stage_id=Subquery(first_stage),
            **{f"{claimed_field}__isnull": True},
        )
        .filter(~Exists(activity))
    )


def managers_and_owners() -> list[uuid.UUID]:
    return list(
        Membership.objects.filter(
            Q(role=Role.OWNER.value) | Q(role=Role.MANAGER.value), user__is_active=True
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )


def notifications_for(
    *, workspace: Workspace, member_id: uuid.UUID, limit: int = 100
) -> list[Notification]:
    with workspace_scope(workspace):
        return list(
            Notification.objects.filter(recipient_id=member_id)
            .select_related("lead")
            .order_by("-created_at", "-id")[:limit]
        )


def notifications_unread_count(*, workspace: Workspace, member_id: uuid.UUID) -> int:
    with workspace_scope(workspace):
        return Notification.objects.filter(recipient_id=member_id, read_at__isnull=True).count()
