"""The privacy panel on the lead page: the restriction banner for everyone who sees the
lead, requests and actions for those who handle privacy requests."""

from __future__ import annotations

from typing import Any

from django import template

from heroshhi.leads.models import Lead
from heroshhi.privacy import consent, selectors
from heroshhi.privacy.forms import ConsentForm
from heroshhi.workspaces.permissions import Capability, has_capability

register = template.Library()


@register.inclusion_tag("privacy/_lead_panel_body.html", takes_context=True)
def privacy_lead_panel(context: template.Context, lead: Lead) -> dict[str, Any]:
    request = context["request"]
    workspace = request.workspace
    role = request.membership.role
    can_manage = has_capability(role, Capability.PRIVACY_REQUESTS_MANAGE)
    restriction = selectors.restriction_for(workspace=workspace, lead=lead)
    return {
        "lead": lead,
        "slug": workspace.slug,
        "restricted": bool(restriction and restriction.is_restricted),
        "analytics_excluded": bool(restriction and restriction.analytics_excluded),
        "can_manage": can_manage,
        "requests": selectors.requests_for_lead(workspace=workspace, lead=lead)
        if can_manage
        else [],
        "consent": consent.consent_state(workspace=workspace, lead=lead) if can_manage else None,
        "marketing_consent": (
            consent.has_marketing_consent(workspace=workspace, lead=lead) if can_manage else False
        ),
        "consent_history": consent.consent_history(workspace=workspace, lead=lead)[-5:]
        if can_manage
        else [],
        "consent_form": ConsentForm() if can_manage else None,
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
