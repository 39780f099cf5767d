"""Restriction of processing: the lead is kept but no longer used (sends, campaigns,
automations, analytics) until the restriction is lifted."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.privacy.models import LeadRestriction, PrivacyRequest
from heroshhi.privacy.services.common import (
    PROGRESS_FIELDS,
    ensure_about,
    member_id_of,
    require_manage,
    start_handling,
)
from heroshhi.workspaces.models import Workspace


def restriction_row_for_update(workspace: Workspace, lead: Lead) -> LeadRestriction:
    """The lead's restriction row, locked, made on first use; an objection to analytics
    writes its flag on the same row."""
    row, _created = LeadRestriction.objects.select_for_update().get_or_create(
        lead=lead, defaults={"workspace": workspace}
    )
    return row


def _lead_audit(
    *, workspace: Workspace, actor: Actor, lead: Lead, reason: str, **meta: object
) -> None:
    lifted = reason == "restriction_lifted"
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.LEAD_RESTRICTION_LIFTED if lifted else AuditAction.LEAD_RESTRICTED,
        target=("lead", lead.pk),
        reason=reason,
        metadata={"fields": ["privacy_restriction"], **meta},
    )


@transaction.atomic
def lead_restrict(
    *, workspace: Workspace, actor: Actor, lead: Lead, request: PrivacyRequest | None = None
) -> LeadRestriction:
    """Stop every use of the lead but keeping it: sends, campaigns, automations, analytics.
    Restricting a restricted lead changes nothing."""
    require_manage(actor)
    ensure_about(request, lead, PrivacyRequest.Type.RESTRICTION)
    with workspace_scope(workspace):
        row = restriction_row_for_update(workspace, lead)
        member_id = member_id_of(actor)
        if not row.is_restricted:
            row.restricted_at = timezone.now()
            row.restricted_by_id = member_id
            row.lifted_at = None
            row.lifted_by = None
            row.save()
            _lead_audit(
                workspace=workspace,
                actor=actor,
                lead=lead,
                reason="restricted",
                request=str(request.pk) if request else None,
            )
        if request is not None:
            start_handling(request, member_id=member_id)
            assert row.restricted_at is not None  # set just above or earlier
            request.outcome = {
                **(request.outcome or {}),
                "restricted_at": row.restricted_at.isoformat(),
            }
            request.save(update_fields=PROGRESS_FIELDS)
    return row


@transaction.atomic
def lead_unrestrict(*, workspace: Workspace, actor: Actor, lead: Lead) -> LeadRestriction | None:
    """Lift the restriction (audited). Lifting an unrestricted lead changes nothing."""
    require_manage(actor)
    with workspace_scope(workspace):
        row = LeadRestriction.objects.select_for_update().filter(lead=lead).first()
        if row is None or not row.is_restricted:
            return row
        row.lifted_at = timezone.now()
        row.lifted_by_id = member_id_of(actor)
        row.save()
        _lead_audit(workspace=workspace, actor=actor, lead=lead, reason="restriction_lifted")
    return row
