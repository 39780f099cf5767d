"""Who gets a new lead, the unassigned pool, and speed-to-lead alerts.

- ``assignee_for_new_lead`` is the one hook ``lead_create`` calls for leads that arrive
  without an owner: round robin among active sales members (a cursor claimed with a
  compare-and-swap UPDATE, so concurrent creates never take the same turn), or a
  source → member mapping that falls back to round robin.
- With ``sales_see_unassigned_pool`` on, sales also see unassigned leads and may take one.
- ``speed_to_lead_alerts`` tells a lead's owner when a new lead has waited 15 minutes, and
  the workspace's managers and owners at 60; each alert is claimed once per lead.

Audit metadata and timeline data carry ids and field names only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import (
    AssignmentSettings,
    Lead,
    Notification,
    Source,
    SourceAssignment,
    Stage,
    TimelineEvent,
)
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, Role, require_capability

SPEED_ALERT_AFTER = timedelta(minutes=15)
SPEED_ESCALATE_AFTER = timedelta(minutes=60)
# Leads older than this are never alerted (no flood of old leads when the job first runs).
SPEED_LOOKBACK = timedelta(days=1)
SPEED_BATCH = 500
_CAS_ATTEMPTS = 20
# Timeline kinds that do not count as somebody working the lead.
_NOT_ACTIVITY = (TimelineEvent.Kind.CREATED, TimelineEvent.Kind.ENQUIRED_AGAIN)


# Settings ------------------------------------------------------------------------------------


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


@transaction.atomic
def assignment_settings_update(
    *,
    workspace: Workspace,
    actor: Actor,
    mode: str,
    sales_see_unassigned_pool: bool,
    source_members: Mapping[str, Membership | None],
) -> AssignmentSettings:
    """Set the mode, the pool switch and the source → member map (None removes a source)."""
    require_capability(actor.role or "", Capability.LEADS_ASSIGN)
    if mode not in AssignmentSettings.Mode.values:
        raise ValidationError({"mode": [_("Choose a valid option.")]})
    unknown = set(source_members) - set(Source.values)
    if unknown:
        raise ValidationError({"sources": [_("Choose a valid option.")]})
    for member in source_members.values():
        if member is not None and member.workspace_id != workspace.pk:
            raise ValidationError({"sources": [_("Choose a valid option.")]})
    with workspace_scope(workspace):
        settings_row, _created = AssignmentSettings.objects.select_for_update().get_or_create(
            workspace=workspace
        )
        changed = [
            field
            for field, value in (
                ("mode", mode),
                ("sales_see_unassigned_pool", sales_see_unassigned_pool),
            )
            if getattr(settings_row, field) != value
        ]
        settings_row.mode = mode
        settings_row.sales_see_unassigned_pool = sales_see_unassigned_pool
        settings_row.updated_at = timezone.now()
        settings_row.save()
        before = dict(SourceAssignment.objects.values_list("source", "member_id"))
        mapped = {s: m.pk for s, m in source_members.items() if m is not None}
        if before != mapped:
            changed.append("sources")
            SourceAssignment.objects.all().delete()
            SourceAssignment.objects.bulk_create(
                SourceAssignment(workspace=workspace, source=source, member_id=member_id)
                for source, member_id in mapped.items()
            )
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.ASSIGNMENT_SETTINGS_UPDATED,
            target=("assignment_settings", settings_row.pk),
            metadata={"fields": changed, "mode": mode, "sources": sorted(mapped)},
        )
    return settings_row


# New leads -----------------------------------------------------------------------------------


def _round_robin_members() -> list[uuid.UUID]:
    return list(
        Membership.objects.filter(role=Role.SALES.value, user__is_active=True)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )


def _round_robin_next(*, settings_id: uuid.UUID) -> uuid.UUID | None:
    """Claim the next turn: read the cursor, then move it on only if nobody else did."""
    members = _round_robin_members()
    if not members:
        return None
    rows = AssignmentSettings.objects.filter(pk=settings_id)
    for _attempt in range(_CAS_ATTEMPTS):
        cursor = rows.select_for_update().values_list("round_robin_cursor", flat=True).get()
        if rows.filter(round_robin_cursor=cursor).update(round_robin_cursor=cursor + 1) == 1:
            return members[cursor % len(members)]
    raise RuntimeError("round robin cursor kept moving; giving up this turn")


def assignee_for_new_lead(*, workspace: Workspace, source: str) -> uuid.UUID | None:
    """The member a new, ownerless lead goes to (None: stays unassigned).

    Runs inside ``lead_create``'s transaction and workspace scope."""
    with workspace_scope(workspace):
        settings_row = AssignmentSettings.objects.filter(
            mode__in=[AssignmentSettings.Mode.ROUND_ROBIN, AssignmentSettings.Mode.BY_SOURCE]
        ).first()
        if settings_row is None:
            return None
        if settings_row.mode == AssignmentSettings.Mode.BY_SOURCE:
            member_id = (
                SourceAssignment.objects.filter(source=source, member__user__is_active=True)
                .values_list("member_id", flat=True)
                .first()
            )
            if member_id is not None:
                return member_id
        return _round_robin_next(settings_id=settings_row.pk)


def assignees_for_new_leads(*, workspace: Workspace, sources: list[str]) -> list[uuid.UUID | None]:
    """``assignee_for_new_lead`` for several ownerless leads at once, in order: the same
    rules, with the round-robin cursor claimed once for all the turns the batch needs."""
    if not sources:
        return []
    with workspace_scope(workspace):
        settings_row = AssignmentSettings.objects.filter(
            mode__in=[AssignmentSettings.Mode.ROUND_ROBIN, AssignmentSettings.Mode.BY_SOURCE]
        ).first()
        if settings_row is None:
            return [None] * len(sources)
        by_source: dict[str, uuid.UUID] = {}
        if settings_row.mode == AssignmentSettings.Mode.BY_SOURCE:
            by_source = dict(
                SourceAssignment.objects.filter(
                    source__in=set(sources), member__user__is_active=True
                ).values_list("source", "member_id")
            )
        turns = sum(1 for source in sources if source not in by_source)
        robin = iter(_round_robin_take(settings_id=settings_row.pk, turns=turns))
        return [by_source[s] if s in by_source else next(robin) for s in sources]


def _round_robin_take(*, settings_id: uuid.UUID, turns: int) -> list[uuid.UUID | None]:
    """Claim ``turns`` consecutive turns with one compare-and-swap; all None without members."""
    if turns == 0:
        return []
    members = _round_robin_members()
    if not members:
        return [None] * turns
    rows = AssignmentSettings.objects.filter(pk=settings_id)
    for _attempt in range(_CAS_ATTEMPTS):
        cursor = rows.select_for_update().values_list("round_robin_cursor", flat=True).get()
        if rows.filter(round_robin_cursor=cursor).update(round_robin_cursor=cursor + turns) == 1:
            return [members[(cursor + n) % len(members)] for n in range(turns)]
    raise RuntimeError("round robin cursor kept moving; giving up these turns")


# The unassigned pool -------------------------------------------------------------------------


@transaction.atomic
def lead_take(*, workspace: Workspace, actor: Actor, member: Membership, lead: Lead) -> Lead:
    """A member takes an unassigned lead for themselves (sales only while the pool is open)."""
    require_capability(actor.role or "", Capability.LEADS_EDIT)
    if member.workspace_id != workspace.pk or lead.workspace_id != workspace.pk:
        raise Http404
    with workspace_scope(workspace):
        claimed = Lead.objects.filter(
            pk=lead.pk, owner__isnull=True, deleted_at__isnull=True
        ).update(owner=member, updated_at=timezone.now(), last_activity_at=timezone.now())
        if claimed != 1:
            raise ValidationError(_("Somebody else took this lead first."))
        TimelineEvent.objects.create(
            workspace=workspace,
            lead=lead,
            kind=TimelineEvent.Kind.ASSIGNED,
            actor_type=actor.type.value,
            actor_id=actor.id or "",
            data={"from": None, "to": str(member.pk), "taken": True},
        )
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_UPDATED,
            target=("lead", lead.pk),
            reason="taken_from_pool",
            metadata={"fields": ["owner"]},
        )
    lead.owner = member
    return lead


# Speed to lead -------------------------------------------------------------------------------


def _waiting_leads(*, now: datetime, after: timedelta, claimed_field: str) -> QuerySet[Lead]:
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


def _managers_and_owners() -> list[uuid.UUID]:
    return list(
        Membership.objects.filter(
            Q(role=Role.OWNER.value) | Q(role=Role.MANAGER.value), user__is_active=True
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )


@transaction.atomic
def _speed_claim(*, now: datetime, lead_id: Any, workspace_id: Any, escalate: bool) -> int:
    """Claim one lead's alert (re-checking every condition in the UPDATE) and notify."""
    field = "speed_escalated_at" if escalate else "speed_alerted_at"
    after = SPEED_ESCALATE_AFTER if escalate else SPEED_ALERT_AFTER
    waiting = _waiting_leads(now=now, after=after, claimed_field=field)
    claimed = waiting.filter(pk=lead_id, workspace_id=workspace_id).update(**{field: now})
    if claimed != 1:
        return 0
    with workspace_scope(workspace_id):
        if escalate:
            recipients = _managers_and_owners()
            kind = Notification.Kind.SPEED_TO_LEAD_ESCALATED
        else:
            owner_id = Lead.objects.filter(pk=lead_id).values_list("owner_id", flat=True).get()
            recipients = [] if owner_id is None else [owner_id]
            kind = Notification.Kind.SPEED_TO_LEAD
        Notification.objects.bulk_create(
            Notification(workspace_id=workspace_id, recipient_id=rid, kind=kind, lead_id=lead_id)
            for rid in recipients
        )
    return len(recipients)


def speed_to_lead_alerts(*, now: datetime | None = None) -> dict[str, int]:
    """Alert owners at 15 minutes and managers/owners at 60, once per lead each.

    Safe to run twice or on several workers at once: each alert is claimed by a conditional
    UPDATE on ``speed_alerted_at`` / ``speed_escalated_at``."""
    now = now or timezone.now()
    counts = {"alerted": 0, "escalated": 0}
    for escalate, key, after, field in (
        (False, "alerted", SPEED_ALERT_AFTER, "speed_alerted_at"),
        (True, "escalated", SPEED_ESCALATE_AFTER, "speed_escalated_at"),
    ):
        while True:
            # The one cross-workspace read: which leads are waiting, by id.
            batch = list(
                _waiting_leads(now=now, after=after, claimed_field=field)
                .order_by("created_at", "id")
                .values_list("pk", "workspace_id")[:SPEED_BATCH]
            )
            for lead_id, workspace_id in batch:
                counts[key] += _speed_claim(
                    now=now, lead_id=lead_id, workspace_id=workspace_id, escalate=escalate
                )
            if len(batch) < SPEED_BATCH:
                break
    return counts


# Notifications -------------------------------------------------------------------------------


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


@transaction.atomic
def notifications_mark_all_read(*, workspace: Workspace, member: Membership) -> int:
    """Mark every unread notice of this member read; returns how many."""
    with workspace_scope(workspace):
        return Notification.objects.filter(recipient=member, read_at__isnull=True).update(
            read_at=timezone.now()
        )
