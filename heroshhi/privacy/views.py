"""Privacy request pages under /w/<slug>/privacy/ (owners and managers): the SLA list, a
new request, a request's page with its linking and closing, and the holidays. Thin: parse,
call one service or selector, render. The rights' actions are in ``views_rights``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.models import CustomField
from heroshhi.privacy import selectors
from heroshhi.privacy.access import access_privacy_request, access_subject
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.forms import (
    CompleteForm,
    ExportForm,
    HolidayForm,
    LinkLeadForm,
    ObjectionForm,
    RejectForm,
    RequestCreateForm,
    RequestFilterForm,
    add_service_errors,
)
from heroshhi.privacy.models import PrivacyRequest, WorkspaceHoliday
from heroshhi.privacy.services import holidays
from heroshhi.privacy.services.reminders import reminders_mark_read
from heroshhi.privacy.services.requests import (
    privacy_request_complete,
    privacy_request_create,
    privacy_request_link_lead,
    privacy_request_reject,
)
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, has_capability, require_capability

_FIELD_LABELS = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "email": gettext_lazy("E-mail"),
    "description": gettext_lazy("Description"),
    "source_details": gettext_lazy("Source details"),
    "stage": gettext_lazy("Stage"),
    "owner": gettext_lazy("Owner"),
    "tags": gettext_lazy("Tags"),
    "deal_value": gettext_lazy("Deal value"),
}


def _workspace(request: HttpRequest) -> Workspace:
    return request.workspace  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


def _membership(request: HttpRequest) -> Membership:
    return request.membership  # type: ignore[attr-defined]


def _role(request: HttpRequest) -> str:
    return _membership(request).role


def access_request(request: HttpRequest, request_id: uuid.UUID) -> PrivacyRequest:
    return access_privacy_request(
        workspace=_workspace(request), actor_role=_role(request), uid=request_id
    )


def back_to_request(slug: str, privacy_request: PrivacyRequest) -> HttpResponse:
    return redirect("privacy:request_detail", slug=slug, request_id=privacy_request.pk)


def flash_errors(request: HttpRequest, exc: ValidationError | PrivacyActionRefused) -> None:
    if isinstance(exc, PrivacyActionRefused):
        messages.error(request, exc.message)
        return
    for message in exc.messages:
        messages.error(request, message)


# The SLA list -----------------------------------------------------------------------------


@require_GET
def request_list(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_role(request), Capability.PRIVACY_REQUESTS_MANAGE)
    workspace = _workspace(request)
    form = RequestFilterForm(request.GET or None)
    errors: list[str] = []
    rows: list[selectors.RequestRow] = []
    if form.is_bound and not form.is_valid():
        errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
    else:
        data = form.cleaned_data if form.is_bound else {}
        filters = selectors.parse_request_filters(
            status=data.get("status"), type=data.get("type"), overdue=bool(data.get("overdue"))
        )
        rows = selectors.requests_list(workspace=workspace, filters=filters)
    context = {
        "rows": rows,
        "filter_form": form if form.is_bound else RequestFilterForm(),
        "filter_errors": errors,
        "reminders": selectors.unread_reminders(
            workspace=workspace, member_id=_membership(request).pk
        ),
        "can_settings": has_capability(_role(request), holidays.SETTINGS_CAPABILITY),
    }
    return render(request, "privacy/list.html", context)


@require_POST
def reminders_read(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_role(request), Capability.PRIVACY_REQUESTS_MANAGE)
    reminders_mark_read(workspace=_workspace(request), actor=_actor(request))
    return redirect("privacy:requests", slug=slug)


# New request ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_role(request), Capability.PRIVACY_REQUESTS_MANAGE)
    workspace = _workspace(request)
    initial = {"lead": request.GET.get("lead", ""), "type": request.GET.get("type", "")}
    form = RequestCreateForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lead = access_subject(workspace=workspace, actor_role=_role(request), uid=data["lead"])
        except Http404:
            form.add_error("lead", _("No lead with this id."))
        else:
            try:
                created = privacy_request_create(
                    workspace=workspace,
                    actor=_actor(request),
                    type=data["type"],
                    lead=lead,
                    channel=data["channel"],
                    scope=data["scope"],
                    evidence=data["evidence"],
                    received_at=data["received_at"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request, _("Request %(ref)s recorded.") % {"ref": created.reference}
                )
                return back_to_request(slug, created)
    status = 400 if form.errors else 200
    return render(request, "privacy/new.html", {"form": form}, status=status)


# Request page, linking and closing ---------------------------------------------------------


def _rectifiable(workspace: Workspace) -> list[tuple[str, str]]:
    with workspace_scope(workspace):
        custom = list(CustomField.objects.values_list("key", "label"))
    return [(name, str(label)) for name, label in _FIELD_LABELS.items()] + [
        (f"custom:{key}", label) for key, label in custom
    ]


def request_page(
    request: HttpRequest,
    privacy_request: PrivacyRequest,
    *,
    status: int = 200,
    **forms: Any,
) -> HttpResponse:
    """The request's page; a form that failed is shown in place of its empty one."""
    workspace = _workspace(request)
    lead = privacy_request.lead
    restriction = selectors.restriction_for(workspace=workspace, lead=lead) if lead else None
    rectifiable = (
        _rectifiable(workspace) if privacy_request.type == PrivacyRequest.Type.RECTIFICATION else []
    )
    context = {
        "req": privacy_request,
        "is_open": not privacy_request.is_closed,
        "row": selectors.request_row(workspace=workspace, request=privacy_request),
        "lead": lead,
        "restriction": restriction,
        "receipt": (privacy_request.outcome or {}).get("receipt"),
        "download": _download_link(request, privacy_request),
        "export_form": forms.get("export_form") or ExportForm(),
        "complete_form": forms.get("complete_form") or CompleteForm(rectifiable=rectifiable),
        "reject_form": forms.get("reject_form") or RejectForm(),
        "link_form": forms.get("link_form") or LinkLeadForm(),
        "objection_form": forms.get("objection_form")
        or ObjectionForm(initial={"scope": privacy_request.scope}),
    }
    return render(request, "privacy/detail.html", context, status=status)


# Where the export action leaves the link it prepared, for the request page to show once.
DOWNLOAD_SESSION_KEY = "privacy.download"


def _download_link(request: HttpRequest, privacy_request: PrivacyRequest) -> dict[str, str] | None:
    """The link prepared a moment ago, kept in the session only until the page shows it."""
    prepared = request.session.pop(DOWNLOAD_SESSION_KEY, None)
    if not prepared or prepared.get("request") != str(privacy_request.pk):
        return None
    return prepared


@require_GET
def request_detail(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    return request_page(request, access_request(request, request_id))


@require_POST
def request_link(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = access_request(request, request_id)
    form = LinkLeadForm(request.POST)
    if not form.is_valid():
        return request_page(request, privacy_request, link_form=form, status=400)
    workspace = _workspace(request)
    try:
        lead = access_subject(
            workspace=workspace, actor_role=_role(request), uid=form.cleaned_data["lead"]
        )
    except Http404:
        form.add_error("lead", _("No lead with this id."))
        return request_page(request, privacy_request, link_form=form, status=400)
    try:
        privacy_request_link_lead(
            workspace=workspace, actor=_actor(request), request=privacy_request, lead=lead
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        flash_errors(request, exc)
    return back_to_request(slug, privacy_request)


@require_POST
def request_complete(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = access_request(request, request_id)
    rectifiable = (
        _rectifiable(_workspace(request))
        if privacy_request.type == PrivacyRequest.Type.RECTIFICATION
        else []
    )
    form = CompleteForm(request.POST, rectifiable=rectifiable)
    if form.is_valid():
        try:
            privacy_request_complete(
                workspace=_workspace(request),
                actor=_actor(request),
                request=privacy_request,
                evidence=form.cleaned_data["evidence"],
                rectified_fields=form.cleaned_data.get("rectified_fields"),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PrivacyActionRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Request completed."))
            return back_to_request(slug, privacy_request)
    return request_page(request, privacy_request, complete_form=form, status=400)


@require_POST
def request_reject(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = access_request(request, request_id)
    form = RejectForm(request.POST)
    if form.is_valid():
        try:
            privacy_request_reject(
                workspace=_workspace(request),
                actor=_actor(request),
                request=privacy_request,
                evidence=form.cleaned_data["evidence"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PrivacyActionRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Request rejected."))
            return back_to_request(slug, privacy_request)
    return request_page(request, privacy_request, reject_form=form, status=400)


# Holidays -----------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def holiday_list(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_role(request), holidays.SETTINGS_CAPABILITY)
    workspace = _workspace(request)
    form = HolidayForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            holidays.holiday_add(
                workspace=workspace,
                actor=_actor(request),
                day=form.cleaned_data["date"],
                name=form.cleaned_data["name"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Holiday added."))
            return redirect("privacy:holidays", slug=slug)
    context = {"form": form, "holidays": selectors.holidays_list(workspace=workspace)}
    return render(request, "privacy/holidays.html", context, status=400 if form.errors else 200)


@require_POST
def holiday_remove(request: HttpRequest, slug: str, holiday_id: uuid.UUID) -> HttpResponse:
    require_capability(_role(request), holidays.SETTINGS_CAPABILITY)
    workspace = _workspace(request)
    with workspace_scope(workspace):
        holiday = get_in_scope_or_404(WorkspaceHoliday.objects.all(), holiday_id)
    holidays.holiday_remove(workspace=workspace, actor=_actor(request), holiday=holiday)
    messages.success(request, _("Holiday removed."))
    return redirect("privacy:holidays", slug=slug)
