"""Assignment rules (/w/<slug>/leads/assignment/), taking a lead from the unassigned pool,
and the member's notifications (/w/<slug>/leads/notifications/)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.core.forms import PlainTextForm
from heroshhi.leads import assignment, selectors
from heroshhi.leads.forms import member_label
from heroshhi.leads.models import AssignmentSettings, Source
from heroshhi.leads.services import assignment as assignment_services
from heroshhi.leads.services.notifications import notifications_mark_all_read
from heroshhi.leads.views import _access, _actor, _membership, _workspace
from heroshhi.workspaces.models import Membership
from heroshhi.workspaces.permissions import Capability, require_capability


class AssignmentForm(PlainTextForm):
    mode = forms.ChoiceField(
        label=gettext_lazy("New leads without an owner"), choices=AssignmentSettings.Mode.choices
    )
    sales_see_unassigned_pool = forms.BooleanField(
        label=gettext_lazy("Sales see unassigned leads and may take them"), required=False
    )

    def __init__(self, *args: Any, members: list[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members = {str(m.pk): m for m in members}
        choices = [("", _("Round robin"))] + [
            (pk, member_label(m)) for pk, m in self.members.items()
        ]
        for value, label in Source.choices:
            self.fields[f"source_{value}"] = forms.ChoiceField(
                label=label, choices=choices, required=False
            )

    def source_fields(self) -> list[forms.BoundField]:
        return [self[f"source_{value}"] for value in Source.values]

    def source_members(self) -> dict[str, Membership | None]:
        return {
            value: self.members.get(self.cleaned_data.get(f"source_{value}") or "")
            for value in Source.values
        }


@require_http_methods(["GET", "POST"])
def assignment_settings(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_membership(request).role, Capability.LEADS_ASSIGN)
    workspace = _workspace(request)
    members = selectors.members_list(workspace=workspace)
    if request.method == "POST":
        form = AssignmentForm(request.POST, members=members)
        if form.is_valid():
            try:
                assignment_services.assignment_settings_update(
                    workspace=workspace,
                    actor=_actor(request),
                    mode=form.cleaned_data["mode"],
                    sales_see_unassigned_pool=form.cleaned_data["sales_see_unassigned_pool"],
                    source_members=form.source_members(),
                )
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                messages.success(request, _("Assignment rules saved."))
                return redirect("leads:assignment", slug=slug)
        status = 400
    else:
        current = assignment.assignment_settings_get(workspace=workspace)
        mapping = assignment.source_assignments(workspace=workspace)
        initial: dict[str, Any] = {
            "mode": current.mode,
            "sales_see_unassigned_pool": current.sales_see_unassigned_pool,
        }
        initial |= {f"source_{source}": str(member_id) for source, member_id in mapping.items()}
        form = AssignmentForm(initial=initial, members=members)
        status = 200
    return render(request, "leads/assignment.html", {"form": form}, status=status)


@require_POST
def lead_take(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _access(request, lead_id, Capability.LEADS_EDIT)
    try:
        assignment_services.lead_take(
            workspace=_workspace(request),
            actor=_actor(request),
            member=_membership(request),
            lead=lead,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The lead is yours now."))
    return redirect("leads:detail", slug=slug, lead_id=lead.pk)


@require_GET
def notifications(request: HttpRequest, slug: str) -> HttpResponse:
    workspace, member = _workspace(request), _membership(request)
    context = {
        "notifications": assignment.notifications_for(workspace=workspace, member_id=member.pk),
        "unread": assignment.notifications_unread_count(workspace=workspace, member_id=member.pk),
    }
    return render(request, "leads/notifications.html", context)


@require_POST
def notifications_read(request: HttpRequest, slug: str) -> HttpResponse:
    notifications_mark_all_read(workspace=_workspace(request), member=_membership(request))
    messages.success(request, _("All notifications marked read."))
    return redirect("leads:notifications", slug=slug)
