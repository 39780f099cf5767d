"""Lead pages under /w/<slug>/leads/. Thin: parse, call one service or selector, render.

Search terms can be names, phones or e-mails, so the search box posts its form: personal
data never ends up in a URL (and so never in access logs or browser history).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.core.actors import Actor
from heroshhi.leads import custom_fields, selectors
from heroshhi.leads.access import access_lead
from heroshhi.leads.export import leads_csv_response
from heroshhi.leads.forms import (
    LeadCreateForm,
    LeadEditForm,
    LeadFilterForm,
    NoteForm,
    TaskForm,
    add_service_errors,
    custom_initial,
    custom_values,
    member_label,
    split_tags,
)
from heroshhi.leads.models import Lead, Source, Stage, TimelineEvent
from heroshhi.leads.selectors_tasks import lead_tasks
from heroshhi.leads.services.bulk import BULK_MAX, leads_bulk_apply
from heroshhi.leads.services.leads import LeadCreateResult, lead_create, lead_update
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.sensitive_reads import lead_record_view
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.services.trash import lead_restore, lead_trash
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, has_capability, require_capability

_EXPORT_FILTERS = selectors.FILTER_KEYS - {"q", "trashed"}
# Form plumbing that is not a filter.
_NOT_FILTERS = frozenset({"cursor", "csrfmiddlewaretoken"})
_FIELD_LABELS = {
    "name": gettext_lazy("name"),
    "phone": gettext_lazy("phone"),
    "email": gettext_lazy("e-mail"),
    "description": gettext_lazy("description"),
    "deal_value": gettext_lazy("deal value"),
    "tags": gettext_lazy("tags"),
    "source_details": gettext_lazy("source details"),
}


def _workspace(request: HttpRequest) -> Workspace:
    return request.workspace  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


def _membership(request: HttpRequest) -> Membership:
    return request.membership  # type: ignore[attr-defined]


def _viewer(request: HttpRequest) -> selectors.Viewer:
    member = _membership(request)
    return selectors.Viewer(role=member.role, member_id=member.pk)


def _assignable_members(request: HttpRequest) -> list[Membership] | None:
    """Members to choose an owner from; None when this role may not assign."""
    if not has_capability(_membership(request).role, Capability.LEADS_ASSIGN):
        return None
    return selectors.members_list(workspace=_workspace(request))


def _access(
    request: HttpRequest, lead_id: uuid.UUID, perm: Capability, *, trashed: bool = False
) -> Lead:
    member = _membership(request)
    return access_lead(
        workspace=_workspace(request),
        actor_role=member.role,
        member_id=member.pk,
        uid=lead_id,
        perm=perm,
        trashed=trashed,
    )


# Lists ----------------------------------------------------------------------------------


def _list_page(request: HttpRequest, *, trashed: bool) -> HttpResponse:
    workspace = _workspace(request)
    data = request.POST if request.method == "POST" else request.GET
    raw = {key: values for key, values in data.lists() if key not in _NOT_FILTERS}
    # A GET may carry the plain filters of a shared link, never a search term.
    allowed = selectors.FILTER_KEYS - {"trashed"}
    if request.method != "POST":
        allowed -= {"q"}
    stages = stages_ensure_defaults(workspace=workspace)
    members = _assignable_members(request)
    page = selectors.LeadPage(items=[], next_cursor=None)
    filter_errors: list[str] = []
    active: dict[str, str] = {}
    try:
        filters = replace(selectors.parse_lead_filters(raw, allowed=allowed), trashed=trashed)
        active = {key: str(value[0]) for key, value in raw.items() if value and value[0]}
        page = selectors.leads_list(
            workspace=workspace,
            viewer=_viewer(request),
            filters=filters,
            after=data.get("cursor") or None,
        )
    except ValidationError as exc:
        filter_errors = exc.messages
    filter_form = LeadFilterForm(
        initial=active,
        stages=stages,
        members=members,
        tags=selectors.tags_list(workspace=workspace),
    )
    context = {
        "page": page,
        "filter_form": filter_form,
        "filter_errors": filter_errors,
        "active_filters": active,
        "trashed": trashed,
        "can_create": has_capability(_membership(request).role, Capability.LEADS_CREATE),
        "can_export": has_capability(_membership(request).role, Capability.LEADS_EXPORT),
        "can_import": has_capability(_membership(request).role, Capability.LEADS_IMPORT),
        "bulk": _bulk_context(request, stages, members) if not trashed else None,
        # The export link carries the plain filters only, never a search term (ADR 0006).
        "export_query": urlencode({k: v for k, v in active.items() if k in _EXPORT_FILTERS}),
    }
    return render(request, "leads/list.html", context)


def _bulk_context(
    request: HttpRequest, stages: list[Stage], members: list[Membership] | None
) -> dict[str, Any] | None:
    """The bulk action bar's choices; None when this role may not act in bulk."""
    role = _membership(request).role
    if not has_capability(role, Capability.LEADS_ASSIGN):
        return None
    return {
        "members": [(member.pk, member_label(member)) for member in members or []],
        "stages": stages,
        "can_trash": has_capability(role, Capability.LEADS_BULK_DELETE),
    }


# The field carrying each action's value.
_BULK_VALUE_FIELD = {
    "assign": "member",
    "unassign": "",
    "stage": "stage",
    "tag": "tag",
    "trash": "",
}


def _bulk_lead_ids(request: HttpRequest) -> list[uuid.UUID]:
    """Ticked rows, plus every row of the page when "select all on this page" is ticked."""
    raw = request.POST.getlist("lead")
    if request.POST.get("all_page"):
        raw += request.POST.getlist("page_lead")
    if len(raw) > BULK_MAX * 2:
        raise ValidationError(_("Choose at most %(max)d leads at a time.") % {"max": BULK_MAX})
    try:
        ids = list(dict.fromkeys(uuid.UUID(str(value)) for value in raw))
    except ValueError:
        raise ValidationError(_("The selection holds an invalid lead id.")) from None
    if len(ids) > BULK_MAX:
        raise ValidationError(_("Choose at most %(max)d leads at a time.") % {"max": BULK_MAX})
    return ids


@require_POST
def lead_bulk(request: HttpRequest, slug: str) -> HttpResponse:
    """Assign, unassign, move, tag or trash the selected leads (owners and managers)."""
    require_capability(_membership(request).role, Capability.LEADS_ASSIGN)
    action = request.POST.get("action", "")
    if action not in _BULK_VALUE_FIELD:
        return HttpResponseBadRequest(_("Unknown bulk action."), content_type="text/plain")
    try:
        lead_ids = _bulk_lead_ids(request)
    except ValidationError as exc:
        return HttpResponseBadRequest(" ".join(exc.messages), content_type="text/plain")
    if not lead_ids:
        messages.error(request, _("Select at least one lead."))
        return redirect("leads:list", slug=slug)
    field = _BULK_VALUE_FIELD[action]
    try:
        count = leads_bulk_apply(
            workspace=_workspace(request),
            actor=_actor(request),
            lead_ids=lead_ids,
            action=action,
            value=request.POST.get(field, "") if field else None,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("leads:list", slug=slug)
    messages.success(request, _("%(count)d leads updated") % {"count": count})
    return redirect("leads:list", slug=slug)


@require_http_methods(["GET", "POST"])
def lead_list(request: HttpRequest, slug: str) -> HttpResponse:
    return _list_page(request, trashed=False)


@require_http_methods(["GET", "POST"])
def trash_list(request: HttpRequest, slug: str) -> HttpResponse:
    return _list_page(request, trashed=True)


@require_GET
def lead_export(request: HttpRequest, slug: str) -> HttpResponseBase:
    """The list's plain GET filters as a CSV download (owners and managers)."""
    require_capability(_membership(request).role, Capability.LEADS_EXPORT)
    raw = {key: values for key, values in request.GET.lists()}
    try:
        filters = selectors.parse_lead_filters(raw, allowed=_EXPORT_FILTERS)
    except ValidationError as exc:
        return HttpResponseBadRequest(" ".join(exc.messages), content_type="text/plain")
    return leads_csv_response(
        workspace=_workspace(request),
        actor=_actor(request),
        viewer=_viewer(request),
        filters=filters,
        filter_keys=list(raw),
    )


# Create ---------------------------------------------------------------------------------


def _stage_or_none(workspace: Workspace, value: str) -> Stage | None:
    return selectors.stage_for_input(workspace=workspace, value=value) if value else None


def _member_or_none(workspace: Workspace, value: str | None) -> Membership | None:
    return selectors.member_for_input(workspace=workspace, value=value) if value else None


@require_http_methods(["GET", "POST"])
def lead_new(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = _workspace(request)
    stages = stages_ensure_defaults(workspace=workspace)
    fields = custom_fields.custom_fields_list(workspace=workspace)
    form = LeadCreateForm(
        request.POST or None, stages=stages, members=_assignable_members(request), custom=fields
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = lead_create(
                workspace=workspace,
                actor=_actor(request),
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
                source=data["source"],
                stage=_stage_or_none(workspace, data["stage"]),
                owner=_member_or_none(workspace, data.get("owner")),
                tags=split_tags(data["tags"]),
                deal_value=data["deal_value"],
                description=data["description"],
                custom_fields=custom_values(form, fields),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _after_create(request, slug, result)
    return render(request, "leads/create.html", {"form": form}, status=400 if form.errors else 200)


def _after_create(request: HttpRequest, slug: str, result: LeadCreateResult) -> HttpResponse:
    if result.created:
        messages.success(request, _("Lead added."))
    else:
        messages.info(
            request,
            _("A lead with this phone number or e-mail already existed; it was updated instead."),
        )
    if selectors.lead_is_visible(viewer=_viewer(request), lead=result.lead):
        return redirect("leads:detail", slug=slug, lead_id=result.lead.pk)
    return redirect("leads:list", slug=slug)


# Detail and edits -------------------------------------------------------------------------


def _timeline_rows(
    events: list[TimelineEvent],
    stages: list[Stage],
    members: list[Membership],
    custom_labels: dict[str, str],
) -> list[dict[str, Any]]:
    """Turns ids and field names in the timeline into words for the page."""
    labels = {**custom_labels, **_FIELD_LABELS}
    stage_names = {str(stage.pk): stage.name for stage in stages}
    member_names = {str(member.pk): member_label(member) for member in members}
    unknown = _("(removed)")
    rows = []
    for event in events:
        detail = ""
        if event.kind == TimelineEvent.Kind.STAGE_CHANGED:
            detail = _("%(from)s → %(to)s") % {
                "from": stage_names.get(event.data.get("from", ""), unknown),
                "to": stage_names.get(event.data.get("to", ""), unknown),
            }
        elif event.kind == TimelineEvent.Kind.ASSIGNED:
            to = event.data.get("to")
            detail = member_names.get(to, unknown) if to else _("Unassigned")
        elif event.data.get("fields"):
            detail = ", ".join(str(labels.get(f, f)) for f in event.data["fields"])
        if event.kind in (TimelineEvent.Kind.CREATED, TimelineEvent.Kind.ENQUIRED_AGAIN):
            source = Source(event.data["source"]).label if "source" in event.data else ""
            detail = _("from %(source)s") % {"source": source} + (f" · {detail}" if detail else "")
        rows.append({"event": event, "label": event.get_kind_display(), "detail": detail})
    return rows


def _detail(
    request: HttpRequest,
    lead: Lead,
    *,
    edit_form: LeadEditForm | None = None,
    note_form: NoteForm | None = None,
    task_form: TaskForm | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = _workspace(request)
    stages = stages_ensure_defaults(workspace=workspace)
    assignable = _assignable_members(request)
    role = _membership(request).role
    fields = custom_fields.custom_fields_list(workspace=workspace)
    values = custom_fields.visible_values(lead.custom_values, fields)
    initial = {
        "stage": str(lead.stage_id),
        "owner": str(lead.owner_id or ""),
        "tags": ", ".join(tag.name for tag in lead.tags.all()),
        "deal_value": lead.deal_value,
        **custom_initial(values),
    }
    context = {
        "lead": lead,
        "custom_rows": [(field.label, values.get(field.key, "")) for field in fields],
        "owner_name": member_label(lead.owner) if lead.owner else "",
        "tags": [tag.name for tag in lead.tags.all()],
        "edit_form": edit_form
        or LeadEditForm(initial=initial, stages=stages, members=assignable, custom=fields),
        "note_form": note_form or NoteForm(),
        "task_form": task_form or TaskForm(),
        "tasks": lead_tasks(workspace=workspace, lead=lead),
        "can_task": has_capability(role, Capability.TASKS_WRITE),
        "notes": selectors.lead_notes(workspace=workspace, lead=lead),
        "timeline": _timeline_rows(
            selectors.lead_timeline(workspace=workspace, lead=lead),
            stages,
            assignable or selectors.members_list(workspace=workspace),
            custom_fields.custom_field_labels(workspace=workspace),
        ),
        "can_edit": has_capability(role, Capability.LEADS_EDIT),
        "can_note": has_capability(role, Capability.NOTES_WRITE),
        "can_delete": has_capability(role, Capability.LEADS_DELETE),
    }
    return render(request, "leads/detail.html", context, status=status)


def lead_detail(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    # Look the lead up before checking the method: a foreign id is a 404 whatever the verb.
    lead = _access(request, lead_id, Capability.LEADS_VIEW_ASSIGNED)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    lead_record_view(workspace=_workspace(request), actor=_actor(request), lead=lead)
    return _detail(request, lead)


@require_POST
def lead_edit(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    workspace = _workspace(request)
    lead = _access(request, lead_id, Capability.LEADS_EDIT)
    members = _assignable_members(request)
    fields = custom_fields.custom_fields_list(workspace=workspace)
    form = LeadEditForm(
        request.POST,
        stages=stages_ensure_defaults(workspace=workspace),
        members=members,
        custom=fields,
        initial=custom_initial(lead.custom_values),
    )
    if form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {
            "tags": split_tags(data["tags"]),
            "deal_value": data["deal_value"],
            "custom_fields": custom_values(form, fields),
        }
        try:
            if data["stage"]:
                changes["stage"] = _stage_or_none(workspace, data["stage"])
            if members is not None:
                changes["owner"] = _member_or_none(workspace, data["owner"])
            lead_update(workspace=workspace, actor=_actor(request), lead=lead, **changes)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Lead updated."))
            return redirect("leads:detail", slug=slug, lead_id=lead.pk)
    return _detail(request, lead, edit_form=form, status=400)


@require_POST
def note_new(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _access(request, lead_id, Capability.NOTES_WRITE)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            note_add(
                workspace=_workspace(request),
                actor=_actor(request),
                lead=lead,
                body=form.cleaned_data["body"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Note added."))
            return redirect("leads:detail", slug=slug, lead_id=lead.pk)
    return _detail(request, lead, note_form=form, status=400)


@require_POST
def lead_delete(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _access(request, lead_id, Capability.LEADS_DELETE)
    lead_trash(workspace=_workspace(request), actor=_actor(request), lead=lead)
    messages.success(request, _("Lead moved to the trash. You can restore it for 30 days."))
    return redirect("leads:list", slug=slug)


@require_POST
def lead_undelete(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _access(request, lead_id, Capability.LEADS_DELETE, trashed=True)
    try:
        lead_restore(workspace=_workspace(request), actor=_actor(request), lead=lead)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("leads:trash", slug=slug)
    messages.success(request, _("Lead restored."))
    return redirect("leads:detail", slug=slug, lead_id=lead.pk)
