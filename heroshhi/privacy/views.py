"""Privacy request pages under /w/<slug>/privacy/ (owners and managers). Thin: parse, call
one service or selector, render.

Exports leave through POST (the HTML report) or a signed link that names only the request
and lasts 15 minutes, once; nothing about the person ever goes into a URL.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.models import CustomField, Lead
from heroshhi.privacy import report as reports
from heroshhi.privacy import selectors
from heroshhi.privacy.access import access_privacy_request, access_subject
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.forms import (
    CompleteForm,
    EraseConfirmForm,
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
from heroshhi.privacy.services import holidays, restriction
from heroshhi.privacy.services.erasure import lead_erase
from heroshhi.privacy.services.exports import (
    export_link_create,
    export_link_redeem,
    lead_access_export,
)
from heroshhi.privacy.services.objection import lead_object
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


def _access(request: HttpRequest, request_id: uuid.UUID) -> PrivacyRequest:
    return access_privacy_request(
        workspace=_workspace(request), actor_role=_role(request), uid=request_id
    )


def _back(slug: str, privacy_request: PrivacyRequest) -> HttpResponse:
    return redirect("privacy:request_detail", slug=slug, request_id=privacy_request.pk)


def _flash_errors(request: HttpRequest, exc: ValidationError | PrivacyActionRefused) -> None:
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
                return _back(slug, created)
    status = 400 if form.errors else 200
    return render(request, "privacy/new.html", {"form": form}, status=status)


# Request detail and its actions -------------------------------------------------------------


def _rectifiable(workspace: Workspace) -> list[tuple[str, str]]:
    with workspace_scope(workspace):
        custom = list(CustomField.objects.values_list("key", "label"))
    return [(name, str(label)) for name, label in _FIELD_LABELS.items()] + [
        (f"custom:{key}", label) for key, label in custom
    ]


def _detail(
    request: HttpRequest,
    privacy_request: PrivacyRequest,
    *,
    status: int = 200,
    **forms: Any,
) -> HttpResponse:
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


_LINK_SESSION_KEY = "privacy.download"


def _download_link(request: HttpRequest, privacy_request: PrivacyRequest) -> dict[str, str] | None:
    """The link prepared a moment ago, kept in the session only until the page shows it."""
    prepared = request.session.pop(_LINK_SESSION_KEY, None)
    if not prepared or prepared.get("request") != str(privacy_request.pk):
        return None
    return prepared


@require_GET
def request_detail(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    return _detail(request, _access(request, request_id))


@require_POST
def request_link(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = _access(request, request_id)
    form = LinkLeadForm(request.POST)
    if not form.is_valid():
        return _detail(request, privacy_request, link_form=form, status=400)
    workspace = _workspace(request)
    try:
        lead = access_subject(
            workspace=workspace, actor_role=_role(request), uid=form.cleaned_data["lead"]
        )
    except Http404:
        form.add_error("lead", _("No lead with this id."))
        return _detail(request, privacy_request, link_form=form, status=400)
    try:
        privacy_request_link_lead(
            workspace=workspace, actor=_actor(request), request=privacy_request, lead=lead
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        _flash_errors(request, exc)
    return _back(slug, privacy_request)


def _subject(request: HttpRequest, privacy_request: PrivacyRequest) -> Lead:
    """The request's lead, or 404 when it has none (unlinked, or erased)."""
    if privacy_request.lead_id is None:
        raise Http404
    return access_subject(
        workspace=_workspace(request), actor_role=_role(request), uid=privacy_request.lead_id
    )


@require_POST
def request_report(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    """The readable access report, as a page answering a POST (so no URL can replay it)."""
    privacy_request = _access(request, request_id)
    lead = _subject(request, privacy_request)
    try:
        report = lead_access_export(
            workspace=_workspace(request),
            actor=_actor(request),
            lead=lead,
            format="html",
            request=privacy_request,
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        _flash_errors(request, exc)
        return _back(slug, privacy_request)
    response = render(request, "privacy/report.html", {"req": privacy_request, "report": report})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def request_export(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    """Prepare a one-time download link (15 minutes) and show it on the request page."""
    privacy_request = _access(request, request_id)
    _subject(request, privacy_request)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return _detail(request, privacy_request, export_form=form, status=400)
    fmt = form.cleaned_data["format"]
    try:
        token = export_link_create(
            workspace=_workspace(request),
            actor=_actor(request),
            request=privacy_request,
            format=fmt,
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        _flash_errors(request, exc)
        return _back(slug, privacy_request)
    request.session[_LINK_SESSION_KEY] = {
        "request": str(privacy_request.pk),
        "format": fmt,
        "url": reverse(
            "privacy:request_download",
            kwargs={"slug": slug, "request_id": privacy_request.pk, "token": token},
        ),
    }
    return _back(slug, privacy_request)


@require_GET
def request_download(
    request: HttpRequest, slug: str, request_id: uuid.UUID, token: str
) -> HttpResponse:
    privacy_request = _access(request, request_id)
    workspace = _workspace(request)
    try:
        fmt = export_link_redeem(
            workspace=workspace, actor=_actor(request), request=privacy_request, token=token
        )
    except PrivacyActionRefused as exc:
        response = render(
            request,
            "privacy/link_refused.html",
            {"req": privacy_request, "refusal": exc},
            status=410,
        )
        response["Cache-Control"] = "no-store"
        return response
    lead = _subject(request, privacy_request)
    report = lead_access_export(
        workspace=workspace, actor=_actor(request), lead=lead, format=fmt, request=privacy_request
    )
    return reports.report_download(report, fmt=fmt, name=privacy_request.reference)


@require_http_methods(["GET", "POST"])
def request_erase(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    """A confirmation page, then the erasure; the request page then shows the receipt."""
    privacy_request = _access(request, request_id)
    if privacy_request.type != PrivacyRequest.Type.ERASURE:
        raise Http404
    lead = _subject(request, privacy_request)
    form = EraseConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            lead_erase(
                workspace=_workspace(request),
                actor=_actor(request),
                lead_id=lead.pk,
                request=privacy_request,
            )
        except (ValidationError, PrivacyActionRefused) as exc:
            _flash_errors(request, exc)
        else:
            messages.success(request, _("The lead was erased. The receipt is below."))
        return _back(slug, privacy_request)
    context = {"req": privacy_request, "lead": lead, "form": form}
    return render(
        request, "privacy/erase_confirm.html", context, status=400 if form.errors else 200
    )


@require_POST
def request_restrict(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = _access(request, request_id)
    lead = _subject(request, privacy_request)
    try:
        restriction.lead_restrict(
            workspace=_workspace(request), actor=_actor(request), lead=lead, request=privacy_request
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, _("Processing of this lead is restricted."))
    return _back(slug, privacy_request)


@require_POST
def request_unrestrict(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = _access(request, request_id)
    lead = _subject(request, privacy_request)
    restriction.lead_unrestrict(workspace=_workspace(request), actor=_actor(request), lead=lead)
    messages.success(request, _("The restriction was lifted."))
    return _back(slug, privacy_request)


@require_POST
def request_object(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = _access(request, request_id)
    lead = _subject(request, privacy_request)
    form = ObjectionForm(request.POST)
    if not form.is_valid():
        return _detail(request, privacy_request, objection_form=form, status=400)
    try:
        lead_object(
            workspace=_workspace(request),
            actor=_actor(request),
            lead=lead,
            scope=form.cleaned_data["scope"],
            request=privacy_request,
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        _flash_errors(request, exc)
    else:
        messages.success(request, _("The objection was applied."))
    return _back(slug, privacy_request)


@require_POST
def request_complete(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = _access(request, request_id)
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
            return _back(slug, privacy_request)
    return _detail(request, privacy_request, complete_form=form, status=400)


@require_POST
def request_reject(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = _access(request, request_id)
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
            return _back(slug, privacy_request)
    return _detail(request, privacy_request, reject_form=form, status=400)


# From the lead page ---------------------------------------------------------------------------


def _lead(request: HttpRequest, lead_id: uuid.UUID) -> Lead:
    return access_subject(workspace=_workspace(request), actor_role=_role(request), uid=lead_id)


@require_POST
def lead_restrict(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _lead(request, lead_id)
    restriction.lead_restrict(workspace=_workspace(request), actor=_actor(request), lead=lead)
    messages.success(request, _("Processing of this lead is restricted."))
    return redirect("leads:detail", slug=slug, lead_id=lead.pk)


@require_POST
def lead_unrestrict(request: HttpRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _lead(request, lead_id)
    restriction.lead_unrestrict(workspace=_workspace(request), actor=_actor(request), lead=lead)
    messages.success(request, _("The restriction was lifted."))
    return redirect("leads:detail", slug=slug, lead_id=lead.pk)


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
