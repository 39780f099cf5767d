"""Writes of lead assignment: the workspace's rules, the owner a new ownerless lead gets, a
member taking a lead from the unassigned pool, and a leaving member's leads handed back.

``assignee_for_new_lead`` is the one hook ``lead_create`` calls for leads that arrive
without an owner: round robin among active sales members, or a source → member mapping
that falls back to round robin. Each turn is handed out once, by a counter that moves on
in one statement and holds no lock until the create commits, so concurrent creates in a
workspace never queue on it: on PostgreSQL a sequence per workspace (``nextval`` never
waits and is never rolled back, so a create that rolls back has used its turn and the
next member is skipped once); on SQLite, which lets one writer in at a time, the settings
row's column.

Audit metadata and timeline data carry ids and field names only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.assignment import round_robin_members, round_robin_sequence
from heroshhi.leads.models import AssignmentSettings, Lead, Source, SourceAssignment, TimelineEvent
from heroshhi.leads.services.common import id_or_none
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


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
        _round_robin_sequence_ensure(settings_row)
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
        return _round_robin_take(settings_row=settings_row, turns=1)[0]


def assignees_for_new_leads(*, workspace: Workspace, sources: list[str]) -> list[uuid.UUID | None]:
    """``assignee_for_new_lead`` for several ownerless leads at once, in order: the same
    rules, with all the round-robin turns the batch needs claimed in one statement."""
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
        robin = iter(_round_robin_take(settings_row=settings_row, turns=turns))
        return [by_source[s] if s in by_source else next(robin) for s in sources]


def _round_robin_take(*, settings_row: AssignmentSettings, turns: int) -> list[uuid.UUID | None]:
    """Claim ``turns`` turns at once; all None without members."""
    if turns == 0:
        return []
    members = round_robin_members()
    if not members:
        return [None] * turns
    return [members[turn % len(members)] for turn in _turns_claim(settings_row, turns)]


def _turns_claim(settings_row: AssignmentSettings, turns: int) -> list[int]:
    """The numbers of ``turns`` new turns, none ever given twice."""
    if connection.vendor == "postgresql":
        return _sequence_turns(settings_row, turns)
    rows = AssignmentSettings.objects.filter(pk=settings_row.pk)
    # One writer at a time on SQLite: nobody moves the cursor between the two statements.
    with transaction.atomic(savepoint=False):
        rows.update(round_robin_cursor=F("round_robin_cursor") + turns)
        end = rows.values_list("round_robin_cursor", flat=True).get()
    return list(range(end - turns, end))


def _sequence_turns(settings_row: AssignmentSettings, turns: int) -> list[int]:
    name = round_robin_sequence(settings_row.workspace_id)
    for _attempt in range(2):
        with connection.cursor() as cursor:
            # to_regclass gives NULL for a sequence not created yet, where naming it
            # directly would fail and doom the caller's transaction.
            cursor.execute(
                "SELECT nextval(to_regclass(%s)) FROM generate_series(1, %s)", [name, turns]
            )
            claimed = [turn for (turn,) in cursor.fetchall()]
        if None not in claimed:
            return claimed
        _round_robin_sequence_ensure(settings_row)
    raise RuntimeError("the round-robin sequence could not be created")


def _round_robin_sequence_ensure(settings_row: AssignmentSettings) -> None:
    """Create the workspace's turn sequence (PostgreSQL), starting at the row's cursor.

    Usually done when the settings are saved (and by migration 0012 for older rows); here
    too for a row written otherwise. Two transactions creating it at once: the second waits
    for the first to commit, then fails on the name, which the savepoint absorbs."""
    if connection.vendor != "postgresql":
        return
    name = connection.ops.quote_name(round_robin_sequence(settings_row.workspace_id))
    start = int(settings_row.round_robin_cursor)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {name} MINVALUE 0 START WITH {start}")
    except (IntegrityError, ProgrammingError):
        pass  # created by the other transaction, which has committed by now


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


def leads_hand_back(
    *, workspace: Workspace, actor: Actor, member: Membership, reassign_to: Membership | None
) -> int:
    """Move every live and trashed lead owned by ``member`` to ``reassign_to`` (None: the
    unassigned pool), with an ``assigned`` timeline entry each. Used when a member leaves;
    the caller holds the transaction and audits the removal. Returns how many moved."""
    with workspace_scope(workspace):
        lead_ids = list(Lead.objects.filter(owner=member).values_list("pk", flat=True))
        if not lead_ids:
            return 0
        Lead.objects.filter(pk__in=lead_ids).update(owner=reassign_to, updated_at=timezone.now())
        data = {"from": str(member.pk), "to": id_or_none(reassign_to.pk if reassign_to else None)}
        TimelineEvent.objects.bulk_create(
            TimelineEvent(
                workspace=workspace,
                lead_id=lead_id,
                kind=TimelineEvent.Kind.ASSIGNED,
                actor_type=actor.type.value,
                actor_id=actor.id or "",
                data=data,
            )
            for lead_id in lead_ids
        )
    return len(lead_ids)
