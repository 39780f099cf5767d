"""The messaging panel of the lead page: the lead's conversations, their opt-out state with
the opt-out / opt-in controls, and the calls with the form to log one."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from heroshhi.leads.access import access_lead
from heroshhi.leads.forms import add_service_errors
from heroshhi.leads.models import Lead
from heroshhi.messaging import calls, optout, selectors
from heroshhi.messaging.forms import CallLogForm
from heroshhi.messaging.models import OptOutRecord
from heroshhi.messaging.views import can, optout_notice
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.permissions import Capability


def _lead(request: WorkspaceRequest, lead_id: uuid.UUID, perm: Capability) -> Lead:
    return access_lead(
        workspace=request.workspace,
        actor_role=request.membership.role,
        member_id=request.membership.pk,
        uid=lead_id,
        perm=perm,
    )


def _call_form_initial() -> dict[str, Any]:
    return {"started_at": timezone.localtime().replace(second=0, microsecond=0)}


def _panel(
    request: WorkspaceRequest,
    lead: Lead,
    *,
    call_form: CallLogForm | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    panel = selectors.lead_panel(workspace=request.workspace, lead=lead)
    context = {
        "panel": panel,
        "lead": lead,
        "optout_text": optout_notice(panel.optout_record) if panel.opted_out else "",
        "call_form": call_form or CallLogForm(initial=_call_form_initial()),
        "panel_errors": errors or [],
        "can_log_call": can(request, Capability.CALLS_LOG),
        "can_opt_out": can(request, Capability.CHAT),
        "can_opt_in": can(request, Capability.CHANNELS_MANAGE),
    }
    if request.htmx:  # type: ignore[attr-defined]
        # htmx swaps only 2xx answers, so form errors come back as 200 with the messages.
        return render(request, "messaging/lead_panel.html#panel", context)
    return render(request, "messaging/lead_panel.html", context, status=status)


@require_GET
def lead_panel(request: WorkspaceRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    return _panel(request, _lead(request, lead_id, Capability.LEADS_VIEW_ASSIGNED))


def _after_panel_action(request: WorkspaceRequest, lead: Lead, notice: str) -> HttpResponse:
    """The fresh panel for htmx (it shows the change itself), else back to the lead page."""
    if request.htmx:  # type: ignore[attr-defined]
        return _panel(request, lead)
    messages.success(request, notice)
    return redirect("leads:detail", slug=request.workspace.slug, lead_id=lead.pk)


@require_POST
def lead_optout(request: WorkspaceRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _lead(request, lead_id, Capability.LEADS_VIEW_ASSIGNED)
    action = request.POST.get("action", "")
    if action not in {"opt_out", "opt_in"}:
        return _panel(request, lead, errors=[_("Choose opt out or opt in.")], status=400)
    change = optout.lead_opt_out if action == "opt_out" else optout.lead_opt_in
    try:
        change(
            workspace=request.workspace,
            actor=request.actor,
            lead=lead,
            method=OptOutRecord.Method.MANUAL,
        )
    except ValidationError as exc:
        return _panel(request, lead, errors=exc.messages, status=400)
    except PermissionDenied:
        return _panel(
            request,
            lead,
            errors=[_("Only owners and managers can opt a contact back in.")],
            status=403,
        )
    if action == "opt_out":
        return _after_panel_action(
            request, lead, _("Marked as opted out. Nothing more will be sent.")
        )
    return _after_panel_action(request, lead, _("Opted back in. Messages can be sent again."))


@require_POST
def lead_call_log(request: WorkspaceRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _lead(request, lead_id, Capability.CALLS_LOG)
    form = CallLogForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            calls.call_log(
                workspace=request.workspace,
                actor=request.actor,
                lead=lead,
                direction=data["direction"],
                started_at=data["started_at"],
                duration_seconds=data["duration"],
                outcome=data["outcome"],
                notes=data["notes"] or None,
                recording_url=data["recording_url"] or None,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "duration_seconds" in exc.error_dict:
                exc.error_dict["duration"] = exc.error_dict.pop("duration_seconds")
            add_service_errors(form, exc)
        else:
            return _after_panel_action(request, lead, _("Call logged."))
    return _panel(request, lead, call_form=form, status=400)
