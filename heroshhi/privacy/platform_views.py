"""Platform console pages of the privacy engine under /platform/privacy/ (staff only, 404
for everyone else): the platform's compliance view, retention reports of every run, and
the incident register. Nothing here reads a workspace's leads or messages; the incident
page shows counts of affected leads only."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.core.tenancy import parse_uuid_or_404
from heroshhi.privacy import compliance, incidents, policy
from heroshhi.privacy.compliance_statements import PROCESSING_RECORDS
from heroshhi.privacy.forms import (
    IncidentForm,
    IncidentUpdateForm,
    NoticeSentForm,
    add_service_errors,
)
from heroshhi.privacy.models import Incident, IncidentNotice
from heroshhi.privacy.retention.rules import RULE_LABELS, RULES
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.platform_admin.views import PlatformRequest, platform_staff_only

RUNS_SHOWN = 30


def _workspaces_from(text: str) -> list[Workspace]:
    """Workspaces named by comma-separated slugs; unknown ones are a field error."""
    slugs = sorted({part.strip() for part in (text or "").split(",") if part.strip()})
    found = list(Workspace.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {workspace.slug for workspace in found})
    if missing:
        raise ValidationError(
            {"workspaces": [_("No workspace with slug: %(s)s") % {"s": ", ".join(missing)}]}
        )
    return found


def _incident(incident_id: uuid.UUID) -> Incident:
    try:
        return Incident.objects.get(pk=parse_uuid_or_404(incident_id))
    except Incident.DoesNotExist:
        raise Http404 from None


@platform_staff_only
@require_GET
def overview(request: PlatformRequest) -> HttpResponse:
    context = {
        "coverage": compliance.encryption_coverage(),
        "transport": compliance.transport_checks(request_is_secure=request.is_secure()),
        "runs": policy.platform_runs(limit=RUNS_SHOWN),
        "rules": [(rule, RULE_LABELS[rule]) for rule in RULES],
        "incidents": [
            {"incident": incident, "clocks": incidents.notice_clocks(incident)}
            for incident in incidents.incidents_list()
        ],
        "records": PROCESSING_RECORDS,
    }
    return render(request, "privacy/platform/overview.html", context)


@platform_staff_only
@require_http_methods(["GET", "POST"])
def incident_new(request: PlatformRequest) -> HttpResponse:
    form = IncidentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = incidents.incident_record(
                actor=request.actor,
                title=data["title"],
                description=data["description"],
                detected_at=data["detected_at"],
                severity=data["severity"],
                personal_data_involved=data["personal_data_involved"],
                exposure_start=data["exposure_start"],
                exposure_end=data["exposure_end"],
                workspaces=_workspaces_from(data["workspaces"]),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Incident %(ref)s recorded.") % {"ref": created.reference})
            return redirect("platform_privacy:incident_detail", incident_id=created.pk)
    status = 400 if form.errors else 200
    return render(request, "privacy/platform/incident_new.html", {"form": form}, status=status)


def _detail(
    request: PlatformRequest,
    incident: Incident,
    *,
    form: IncidentUpdateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    affected = list(incident.affected_workspaces.order_by("slug"))
    context = {
        "incident": incident,
        "description": incidents.incident_description(incident),
        "clocks": incidents.notice_clocks(incident),
        "affected": [
            {
                "workspace": workspace,
                "leads": incidents.affected_leads_count(incident=incident, workspace=workspace),
            }
            for workspace in affected
        ],
        "templates": {
            kind: incidents.notice_template(incident, kind) for kind in IncidentNotice.Kind.values
        },
        "form": form
        or IncidentUpdateForm(
            initial={
                "status": incident.status,
                "workspaces": ", ".join(workspace.slug for workspace in affected),
            }
        ),
        "notice_form": NoticeSentForm(),
    }
    return render(request, "privacy/platform/incident_detail.html", context, status=status)


@platform_staff_only
@require_http_methods(["GET", "POST"])
def incident_detail(request: PlatformRequest, incident_id: uuid.UUID) -> HttpResponse:
    incident = _incident(incident_id)
    if request.method == "GET":
        return _detail(request, incident)
    form = IncidentUpdateForm(request.POST)
    if form.is_valid():
        try:
            incidents.incident_update(
                actor=request.actor,
                incident=incident,
                status=form.cleaned_data["status"],
                workspaces=_workspaces_from(form.cleaned_data["workspaces"]),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Incident updated."))
            return redirect("platform_privacy:incident_detail", incident_id=incident.pk)
    return _detail(request, incident, form=form, status=400)


@platform_staff_only
@require_POST
def incident_notice(request: PlatformRequest, incident_id: uuid.UUID, kind: str) -> HttpResponse:
    incident = _incident(incident_id)
    if kind not in IncidentNotice.Kind.values:
        raise Http404
    form = NoticeSentForm(request.POST)
    if form.is_valid():
        try:
            incidents.incident_notice_sent(
                actor=request.actor,
                incident=incident,
                kind=kind,
                reference=form.cleaned_data["reference"],
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Notice marked as sent."))
    return redirect("platform_privacy:incident_detail", incident_id=incident.pk)
