"""Leads changing hands when their owner leaves the workspace."""

from __future__ import annotations

from django.utils import timezone

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services.common import id_or_none
from heroshhi.workspaces.models import Membership, Workspace


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
