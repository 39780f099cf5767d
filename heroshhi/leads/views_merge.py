"""The merge page /w/<slug>/leads/<uuid>/merge/: find the duplicate, choose field by field,
confirm. Every step posts: the search term and the other lead's id stay out of the URL."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from heroshhi.core.actors import Actor
from heroshhi.leads import selectors
from heroshhi.leads.access import access_lead
from heroshhi.leads.forms import member_label
from heroshhi.leads.models import Lead
from heroshhi.leads.services.merging import (
    MERGE_FIELDS,
    clean_choices,
    lead_merge,
    require_merge_rights,
)
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability

_LABELS = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("E-mail"),
    "description": gettext_lazy("Description"),
    "stage": gettext_lazy("Stage"),
    "owner": gettext_lazy("Owner"),
    "deal_value": gettext_lazy("Deal value"),
    "source": gettext_lazy("Source"),
}


def _workspace(request: HttpRequest) -> Workspace:
    return request.workspace  # type: ignore[attr-defined]


def _membership(request: HttpRequest) -> Membership:
    return request.membership  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


def _lead(request: HttpRequest, uid: object) -> Lead:
    """A live lead of this workspace the merger may see, or 404 (foreign ids included)."""
    member = _membership(request)
    return access_lead(
        workspace=_workspace(request),
        actor_role=member.role,
        member_id=member.pk,
        uid=uid,
        perm=Capability.LEADS_VIEW_ALL,
    )


def _shown(lead: Lead, field: str) -> str:
    if field == "stage":
        return lead.stage.name
    if field == "owner":
        return member_label(lead.owner) if lead.owner else _("Unassigned")
    if field == "source":
        return str(lead.get_source_display())
    if field == "deal_value":
        return "—" if lead.deal_value is None else f"₹{lead.deal_value}"
    value = getattr(lead, field)
    return "—" if value in (None, "") else str(value)


def _rows(keep: Lead, other: Lead, picked: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "field": field,
            "label": _LABELS[field],
            "keep": _shown(keep, field),
            "absorb": _shown(other, field),
            "choice": picked[field],
        }
        for field in MERGE_FIELDS
    ]


def _default_choices(keep: Lead, other: Lead) -> dict[str, str]:
    """Keep's values, except where keep has none and the other lead has one."""
    return {
        field: "absorb"
        if getattr(keep, field) in (None, "") and getattr(other, field) not in (None, "")
        else "keep"
        for field in MERGE_FIELDS
        if field not in ("stage", "source")
    } | {"stage": "keep", "source": "keep"}


def _search(request: HttpRequest, keep: Lead, q: str) -> tuple[list[Lead], list[str]]:
    """The list's own search (blind indexes), minus the lead being kept."""
    if not q.strip():
        return [], [_("Type a name, phone number or e-mail address.")]
    member = _membership(request)
    try:
        filters = selectors.parse_lead_filters({"q": [q]}, allowed=frozenset({"q"}))
        page = selectors.leads_list(
            workspace=_workspace(request),
            viewer=selectors.Viewer(role=member.role, member_id=member.pk),
            filters=filters,
        )
    except ValidationError as exc:
        return [], exc.messages
    return [lead for lead in page.items if lead.pk != keep.pk], []


@require_http_methods(["GET", "POST"])
def lead_merge_page(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    require_merge_rights(_membership(request).role)
    keep = _lead(request, lead_id)
    context: dict[str, Any] = {"lead": keep, "step": "search", "results": None, "errors": []}
    step = request.POST.get("step", "") if request.method == "POST" else ""
    if step == "search":
        q = request.POST.get("q", "")
        context["results"], context["errors"] = _search(request, keep, q)
        context["q"] = q
        return render(request, "leads/merge.html", context)
    if step not in ("compare", "confirm"):
        return render(request, "leads/merge.html", context)
    other = _lead(request, request.POST.get("other", ""))
    picked = _default_choices(keep, other)
    status = 200
    if step == "confirm":
        raw = {field: request.POST.get(field, "keep") for field in MERGE_FIELDS}
        try:
            choices = clean_choices(raw)
            lead_merge(
                workspace=_workspace(request),
                actor=_actor(request),
                keep=keep,
                absorb=other,
                choices=choices,
            )
        except ValidationError as exc:
            context["errors"] = exc.messages
            picked = {field: raw[field] for field in MERGE_FIELDS}
            status = 400
        else:
            messages.success(request, _("Leads merged."))
            return redirect("leads:detail", slug=slug, lead_id=keep.pk)
    context.update(step="compare", other=other, rows=_rows(keep, other, picked))
    return render(request, "leads/merge.html", context, status=status)
