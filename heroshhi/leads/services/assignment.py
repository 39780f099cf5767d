"""Writes of lead assignment: the workspace's rules, the owner a new ownerless lead gets, a
member taking a lead from the unassigned pool, and a leaving member's leads handed back.

``assignee_for_new_lead`` is the one hook ``lead_create`` calls for leads that arrive
without an owner: round robin among active sales members (a cursor claimed with a
compare-and-swap UPDATE, so concurrent creates never take the same turn), or a source →
member mapping that falls back to round robin.

Audit metadata and timeline data carry ids and field names only.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.assignment import round_robin_members
from heroshhi.leads.models import AssignmentSettings, Lead, Source, SourceAssignment, TimelineEvent
from heroshhi.leads.services.common import id_or_none
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

_CAS_ATTEMPTS = 20


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


def _round_robin_next(*, settings_id: uuid.UUID) -> uuid.UUID | None:
    """Claim the next turn: read the cursor, then move it on only if nobody else did."""
    members = round_robin_members()
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
    members = round_robin_members()
    if not members:
        return [None] * turns
    rows = AssignmentSettings.objects.filter(pk=settings_id)
    for _attempt in range(_CAS_ATTEMPTS):
        cursor = rows.select_for_update().values_list("round_robin_cursor", flat=True).get()
        if rows.filter(round_robin_cursor=cursor).update(round_robin_cursor=cursor + turns) == 1:
            return [members[(cursor + n) % len(members)] for n in range(turns)]
    raise RuntimeError("round robin cursor kept moving; giving up these turns")


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
