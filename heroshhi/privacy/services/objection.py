"""Objection: to marketing (the contact is opted out) or to analytics (the lead leaves the
aggregates)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.messaging import optout
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.common import (
    PROGRESS_FIELDS,
    clean_request_scope,
    ensure_about,
    member_id_of,
    require_manage,
    start_handling,
)
from heroshhi.privacy.services.restriction import restriction_row_for_update
from heroshhi.workspaces.models import Workspace


@transaction.atomic
def lead_object(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    scope: str,
    request: PrivacyRequest | None = None,
) -> None:
    """An objection: to marketing, the contact is opted out (the ledger keeps it); to
    analytics, the lead is left out of aggregates from now on."""
    require_manage(actor)
    clean_scope = clean_request_scope(PrivacyRequest.Type.OBJECTION, scope)
    ensure_about(request, lead, PrivacyRequest.Type.OBJECTION)
    if request is not None and request.scope != clean_scope:
        raise ValidationError(
            {"scope": [_("The request objects to %(scope)s.") % {"scope": request.scope}]}
        )
    with workspace_scope(workspace):
        if clean_scope == PrivacyRequest.Scope.MARKETING:
            method = "api" if actor.type == ActorType.API_KEY else "manual"
            optout.lead_opt_out(workspace=workspace, actor=actor, lead=lead, method=method)
        else:
            row = restriction_row_for_update(workspace, lead)
            if not row.analytics_excluded:
                row.analytics_excluded = True
                row.analytics_excluded_at = timezone.now()
                row.save()
                audit_record(
                    workspace=workspace,
                    actor=actor,
                    action=AuditAction.LEAD_RESTRICTED,
                    target=("lead", lead.pk),
                    reason="analytics_excluded",
                    metadata={"fields": ["analytics_excluded"]},
                )
        if request is not None:
            start_handling(request, member_id=member_id_of(actor))
            request.outcome = {**(request.outcome or {}), "objection_applied": clean_scope}
            request.save(update_fields=PROGRESS_FIELDS)
