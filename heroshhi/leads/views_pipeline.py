"""Pipeline settings (/w/<slug>/leads/stages/) and the kanban board (/w/<slug>/leads/board/).

Both answer htmx with the changed fragment and a plain browser with a redirect, so every
action works without JavaScript.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.leads import selectors
from heroshhi.leads.access import access_stage
from heroshhi.leads.forms import StageForm, add_service_errors, member_label
from heroshhi.leads.models import Lead, Stage
from heroshhi.leads.selectors_board import BOARD_CARDS_PER_STAGE, leads_board, stage_lead_counts
from heroshhi.leads.services.leads import lead_update
from heroshhi.leads.services.stages import (
    stage_create,
    stage_delete,
    stage_move,
    stage_rename,
    stages_ensure_defaults,
)
from heroshhi.leads.views import _access, _actor, _membership, _viewer, _workspace
from heroshhi.workspaces.permissions import Capability, has_capability, require_capability

# Stage settings ------------------------------------------------------------------------------


def _stage(request: HttpRequest, stage_id: uuid.UUID) -> Stage:
    return access_stage(
        workspace=_workspace(request), actor_role=_membership(request).role, uid=stage_id
    )


def _stage_rows(request: HttpRequest) -> list[dict[str, object]]:
    workspace = _workspace(request)
    stages = stages_ensure_defaults(workspace=workspace)
    counts = stage_lead_counts(workspace=workspace)
    return [
        {
            "stage": stage,
            "leads": counts.get(stage.pk, 0),
            "form": StageForm(
                initial={"name": stage.name, "kind": stage.kind}, prefix=f"s{stage.pk.hex[:8]}"
            ),
            "first": index == 0,
            "last": index == len(stages) - 1,
        }
        for index, stage in enumerate(stages)
    ]


def _settings_page(
    request: HttpRequest,
    *,
    add_form: StageForm | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "rows": _stage_rows(request),
        "add_form": add_form or StageForm(prefix="new"),
        "errors": errors or [],
        "kinds": Stage.Kind.choices,
    }
    template = "leads/stages.html#stage-list" if request.htmx else "leads/stages.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


def _done(request: HttpRequest, slug: str, *, ok: str, errors: list[str]) -> HttpResponse:
    """After an action on one stage: the fresh list for htmx, else back to the page."""
    if request.htmx:  # type: ignore[attr-defined]
        return _settings_page(request, errors=errors, status=400 if errors else 200)
    for error in errors:
        messages.error(request, error)
    if not errors:
        messages.success(request, ok)
    return redirect("leads:stages", slug=slug)


@require_http_methods(["GET", "POST"])
def stage_settings(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_membership(request).role, Capability.PIPELINE_CONFIGURE)
    if request.method != "POST":
        return _settings_page(request)
    form = StageForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            stage_create(
                workspace=_workspace(request),
                actor=_actor(request),
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if request.htmx:  # type: ignore[attr-defined]
                return _settings_page(request)
            messages.success(request, _("Stage added."))
            return redirect("leads:stages", slug=slug)
    return _settings_page(request, add_form=form, status=400)


@require_POST
def stage_edit(request: HttpRequest, slug: str, stage_id: uuid.UUID) -> HttpResponse:
    stage = _stage(request, stage_id)
    form = StageForm(request.POST, prefix=f"s{stage.pk.hex[:8]}")
    errors: list[str] = []
    if not form.is_valid():
        errors = [str(message) for messages_ in form.errors.values() for message in messages_]
    else:
        try:
            stage_rename(
                workspace=_workspace(request),
                actor=_actor(request),
                stage=stage,
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
            )
        except ValidationError as exc:
            errors = exc.messages
    return _done(request, slug, ok=_("Stage saved."), errors=errors)


@require_POST
def stage_reorder(request: HttpRequest, slug: str, stage_id: uuid.UUID) -> HttpResponse:
    stage = _stage(request, stage_id)
    errors: list[str] = []
    try:
        stage_move(
            workspace=_workspace(request),
            actor=_actor(request),
            stage=stage,
            direction=request.POST.get("direction", ""),
        )
    except ValidationError as exc:
        errors = exc.messages
    return _done(request, slug, ok=_("Stage moved."), errors=errors)


@require_POST
def stage_remove(request: HttpRequest, slug: str, stage_id: uuid.UUID) -> HttpResponse:
    stage = _stage(request, stage_id)
    errors: list[str] = []
    try:
        stage_delete(workspace=_workspace(request), actor=_actor(request), stage=stage)
    except ValidationError as exc:
        errors = exc.messages
    return _done(request, slug, ok=_("Stage deleted."), errors=errors)


# Board ---------------------------------------------------------------------------------------


@require_GET
def board(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = _workspace(request)
    stages = stages_ensure_defaults(workspace=workspace)
    columns = leads_board(workspace=workspace, viewer=_viewer(request), stages=stages)
    context = {
        "columns": columns,
        "stages": stages,
        "per_stage": BOARD_CARDS_PER_STAGE,
        "can_configure": has_capability(_membership(request).role, Capability.PIPELINE_CONFIGURE),
    }
    return render(request, "leads/board.html", context)


def _card(request: HttpRequest, lead: Lead, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "lead": lead,
        "stages": stages_ensure_defaults(workspace=_workspace(request)),
        "owner_name": member_label(lead.owner) if lead.owner else "",
        "card_error": error,
    }
    return render(request, "leads/board.html#card", context, status=status)


@require_POST
def board_move(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    """Move one card to another stage; the stage_changed timeline entry comes from
    lead_update like every other stage change."""
    lead = _access(request, lead_id, Capability.LEADS_EDIT)
    workspace = _workspace(request)
    error = ""
    try:
        stage = selectors.stage_for_input(workspace=workspace, value=request.POST.get("stage"))
        lead = lead_update(workspace=workspace, actor=_actor(request), lead=lead, stage=stage)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if request.htmx:  # type: ignore[attr-defined]
        return _card(request, lead, error=error, status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Lead moved to %(stage)s.") % {"stage": lead.stage.name})
    return redirect("leads:board", slug=slug)
