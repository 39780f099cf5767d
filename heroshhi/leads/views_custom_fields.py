"""Custom field settings under /w/<slug>/leads/fields/ (owners and managers): add, edit,
reorder, remove (archive) and restore the fields every lead can carry.

Plain forms with a redirect after each action, so every action works without JavaScript.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from heroshhi.leads import custom_fields
from heroshhi.leads.forms import CustomFieldEditForm, CustomFieldForm, add_service_errors
from heroshhi.leads.models import CustomField
from heroshhi.leads.services.custom_fields import (
    custom_field_archive,
    custom_field_create,
    custom_field_move,
    custom_field_restore,
    custom_field_update,
)
from heroshhi.leads.views import _actor, _membership, _workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def _field(request: HttpRequest, field_id: uuid.UUID) -> CustomField:
    return custom_fields.access_custom_field(
        workspace=_workspace(request), actor_role=_membership(request).role, uid=field_id
    )


def _prefix(field: CustomField) -> str:
    return f"f{field.pk.hex[:8]}"


def _edit_form(field: CustomField) -> CustomFieldEditForm:
    initial = {
        "label": field.label,
        "choices": "\n".join(field.choices),
        "required": field.required,
    }
    return CustomFieldEditForm(initial=initial, prefix=_prefix(field))


def _page(
    request: HttpRequest,
    *,
    add_form: CustomFieldForm | None = None,
    failed: tuple[CustomField, CustomFieldEditForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = _workspace(request)
    active = custom_fields.custom_fields_list(workspace=workspace)
    rows = [
        {
            "field": field,
            "form": failed[1] if failed and failed[0].pk == field.pk else _edit_form(field),
            "first": index == 0,
            "last": index == len(active) - 1,
        }
        for index, field in enumerate(active)
    ]
    context = {
        "rows": rows,
        "archived": custom_fields.custom_fields_list(workspace=workspace, archived=True),
        "add_form": add_form or CustomFieldForm(prefix="new"),
        "choice_kind": CustomField.Kind.CHOICE,
    }
    return render(request, "leads/custom_fields.html", context, status=status)


def _back(request: HttpRequest, slug: str, *, ok: str, errors: list[str]) -> HttpResponse:
    for error in errors:
        messages.error(request, error)
    if not errors:
        messages.success(request, ok)
    return redirect("leads:custom_fields", slug=slug)


@require_http_methods(["GET", "POST"])
def custom_field_settings(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_membership(request).role, Capability.PIPELINE_CONFIGURE)
    if request.method != "POST":
        return _page(request)
    form = CustomFieldForm(request.POST, prefix="new")
    if form.is_valid():
        data = form.cleaned_data
        try:
            custom_field_create(
                workspace=_workspace(request),
                actor=_actor(request),
                label=data["label"],
                key=data["key"],
                kind=data["kind"],
                choices=data["choices"],
                required=data["required"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Field added."))
            return redirect("leads:custom_fields", slug=slug)
    return _page(request, add_form=form, status=400)


@require_POST
def custom_field_edit(request: HttpRequest, slug: str, field_id: uuid.UUID) -> HttpResponse:
    field = _field(request, field_id)
    form = CustomFieldEditForm(request.POST, prefix=_prefix(field))
    if form.is_valid():
        data = form.cleaned_data
        try:
            custom_field_update(
                workspace=_workspace(request),
                actor=_actor(request),
                field=field,
                label=data["label"],
                choices=data["choices"],
                required=data["required"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Field saved."))
            return redirect("leads:custom_fields", slug=slug)
    return _page(request, failed=(field, form), status=400)


@require_POST
def custom_field_reorder(request: HttpRequest, slug: str, field_id: uuid.UUID) -> HttpResponse:
    field = _field(request, field_id)
    errors: list[str] = []
    try:
        custom_field_move(
            workspace=_workspace(request),
            actor=_actor(request),
            field=field,
            direction=request.POST.get("direction", ""),
        )
    except ValidationError as exc:
        errors = exc.messages
    return _back(request, slug, ok=_("Field moved."), errors=errors)


@require_POST
def custom_field_remove(request: HttpRequest, slug: str, field_id: uuid.UUID) -> HttpResponse:
    field = _field(request, field_id)
    custom_field_archive(workspace=_workspace(request), actor=_actor(request), field=field)
    return _back(
        request,
        slug,
        ok=_("Field removed. Values already on leads are kept and come back if you restore it."),
        errors=[],
    )


@require_POST
def custom_field_unarchive(request: HttpRequest, slug: str, field_id: uuid.UUID) -> HttpResponse:
    field = _field(request, field_id)
    custom_field_restore(workspace=_workspace(request), actor=_actor(request), field=field)
    return _back(request, slug, ok=_("Field restored."), errors=[])
