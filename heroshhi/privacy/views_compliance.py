"""The owner's compliance page, retention settings and the consent action of the lead page.
Thin: check the capability, call one service or selector, render."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.core.actors import Actor
from heroshhi.privacy import compliance, incidents, policy, selectors
from heroshhi.privacy.access import access_subject
from heroshhi.privacy.compliance_statements import PROCESSING_RECORDS, PROMISES
from heroshhi.privacy.consent import consent_grant, consent_withdraw
from heroshhi.privacy.forms import ConsentForm, RetentionPolicyForm, add_service_errors
from heroshhi.privacy.models import PrivacyRequest, RetentionRunWorkspace
from heroshhi.privacy.retention.rules import RULE_LABELS, RULES
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

OPEN_REQUESTS_SHOWN = 20


def _workspace(request: HttpRequest) -> Workspace:
    return request.workspace  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


def _role(request: HttpRequest) -> str:
    return request.membership.role  # type: ignore[attr-defined]


def _run_rows(part: RetentionRunWorkspace) -> list[tuple[str, dict[str, int]]]:
    """(rule label, counts) in rule order, for rules that did something."""
    return [(RULE_LABELS[rule], part.counts[rule]) for rule in RULES if part.counts.get(rule)]


@require_GET
def compliance_page(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_role(request), compliance.COMPLIANCE_CAPABILITY)
    workspace = _workspace(request)
    runs = policy.workspace_runs(workspace=workspace, limit=1)
    open_rows = [
        row
        for row in selectors.requests_list(workspace=workspace)
        if row.request.status in (PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS)
    ][:OPEN_REQUESTS_SHOWN]
    workspace_incidents = [
        {
            "incident": incident,
            "clocks": incidents.notice_clocks(incident),
            "leads": incidents.affected_leads_count(incident=incident, workspace=workspace),
        }
        for incident in incidents.incidents_for_workspace(workspace=workspace)
    ]
    context = {
        "promises": PROMISES,
        "evidence": compliance.evidence_summary(workspace=workspace),
        "transport": compliance.transport_checks(request_is_secure=request.is_secure()),
        "retention_policy": policy.retention_policy_for(workspace=workspace),
        "my_run": runs[0] if runs else None,
        "my_run_rows": _run_rows(runs[0]) if runs else [],
        "platform_run": policy.last_finished_run(),
        "open_rows": open_rows,
        "incidents": workspace_incidents,
        "records": PROCESSING_RECORDS,
    }
    return render(request, "privacy/compliance.html", context)


@require_POST
def compliance_verify(request: HttpRequest, slug: str) -> HttpResponse:
    result = compliance.chain_verify(workspace=_workspace(request), actor=_actor(request))
    if result.ok:
        messages.success(
            request,
            _("The activity log verified: %(n)s events checked.") % {"n": result.events_checked},
        )
    else:
        messages.error(
            request, _("The activity log did not verify: %(p)s.") % {"p": result.problem}
        )
    return redirect("privacy:compliance", slug=slug)


@require_http_methods(["GET", "POST"])
def retention_settings(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_role(request), Capability.RETENTION_MANAGE)
    workspace = _workspace(request)
    current = policy.retention_policy_for(workspace=workspace)
    initial = {
        "delete_messages_after_days": current.delete_messages_after_days,
        "trash_inactive_leads_after_months": current.trash_inactive_leads_after_months,
    }
    form = RetentionPolicyForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            policy.retention_policy_update(
                workspace=workspace,
                actor=_actor(request),
                delete_messages_after_days=form.cleaned_data["delete_messages_after_days"],
                trash_inactive_leads_after_months=form.cleaned_data[
                    "trash_inactive_leads_after_months"
                ],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Retention settings saved. They apply from the next run."))
            return redirect("privacy:retention", slug=slug)
    context = {
        "form": form,
        "policy": current,
        "runs": [(part, _run_rows(part)) for part in policy.workspace_runs(workspace=workspace)],
    }
    return render(request, "privacy/retention.html", context, status=400 if form.errors else 200)


@require_POST
def lead_consent(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    """Record or withdraw marketing consent from the lead page's privacy panel."""
    workspace = _workspace(request)
    require_capability(_role(request), Capability.PRIVACY_REQUESTS_MANAGE)
    lead = access_subject(workspace=workspace, actor_role=_role(request), uid=lead_id)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose how the contact agreed."))
        return redirect("leads:detail", slug=slug, lead_id=lead.pk)
    data = form.cleaned_data
    try:
        if data["action"] == "grant":
            consent_grant(
                workspace=workspace,
                actor=_actor(request),
                lead=lead,
                source=data["source"] or "",
                notice_version=data["notice_version"],
            )
            messages.success(request, _("Marketing consent recorded."))
        else:
            consent_withdraw(workspace=workspace, actor=_actor(request), lead=lead)
            messages.success(request, _("Consent withdrawn. The contact is opted out of messages."))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("leads:detail", slug=slug, lead_id=lead.pk)
