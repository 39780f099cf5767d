"""The rights' actions of a privacy request page (access report and export, erasure,
restriction, objection) and the restriction buttons of the lead page. Thin: parse, call one
service, redirect back to the page.

Exports leave through POST (the HTML report) or a signed link that names only the request
and lasts 15 minutes, once; nothing about the person ever goes into a URL.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from heroshhi.core.actors import Actor
from heroshhi.leads.models import Lead
from heroshhi.privacy import report as reports
from heroshhi.privacy.access import access_subject
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.forms import EraseConfirmForm, ExportForm, ObjectionForm
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services import restriction
from heroshhi.privacy.services.erasure import lead_erase
from heroshhi.privacy.services.exports import (
    export_link_create,
    export_link_redeem,
    lead_access_export,
)
from heroshhi.privacy.services.objection import lead_object
from heroshhi.privacy.views import (
    DOWNLOAD_SESSION_KEY,
    access_request,
    back_to_request,
    flash_errors,
    request_page,
)
from heroshhi.workspaces.models import Workspace


def _workspace(request: HttpRequest) -> Workspace:
    return request.workspace  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return request.actor  # type: ignore[attr-defined]


def _role(request: HttpRequest) -> str:
    return request.membership.role  # type: ignore[attr-defined]


# From a request page -----------------------------------------------------------------------


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
    privacy_request = access_request(request, request_id)
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
        flash_errors(request, exc)
        return back_to_request(slug, privacy_request)
    response = render(request, "privacy/report.html", {"req": privacy_request, "report": report})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def request_export(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    """Prepare a one-time download link (15 minutes) and show it on the request page."""
    privacy_request = access_request(request, request_id)
    _subject(request, privacy_request)
    form = ExportForm(request.POST)
    if not form.is_valid():
        return request_page(request, privacy_request, export_form=form, status=400)
    fmt = form.cleaned_data["format"]
    try:
        token = export_link_create(
            workspace=_workspace(request),
            actor=_actor(request),
            request=privacy_request,
            format=fmt,
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        flash_errors(request, exc)
        return back_to_request(slug, privacy_request)
    request.session[DOWNLOAD_SESSION_KEY] = {
        "request": str(privacy_request.pk),
        "format": fmt,
        "url": reverse(
            "privacy:request_download",
            kwargs={"slug": slug, "request_id": privacy_request.pk, "token": token},
        ),
    }
    return back_to_request(slug, privacy_request)


@require_GET
def request_download(
    request: HttpRequest, slug: str, request_id: uuid.UUID, token: str
) -> HttpResponse:
    privacy_request = access_request(request, request_id)
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
    privacy_request = access_request(request, request_id)
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
            flash_errors(request, exc)
        else:
            messages.success(request, _("The lead was erased. The receipt is below."))
        return back_to_request(slug, privacy_request)
    context = {"req": privacy_request, "lead": lead, "form": form}
    return render(
        request, "privacy/erase_confirm.html", context, status=400 if form.errors else 200
    )


@require_POST
def request_restrict(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = access_request(request, request_id)
    lead = _subject(request, privacy_request)
    try:
        restriction.lead_restrict(
            workspace=_workspace(request), actor=_actor(request), lead=lead, request=privacy_request
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        flash_errors(request, exc)
    else:
        messages.success(request, _("Processing of this lead is restricted."))
    return back_to_request(slug, privacy_request)


@require_POST
def request_unrestrict(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = access_request(request, request_id)
    lead = _subject(request, privacy_request)
    restriction.lead_unrestrict(workspace=_workspace(request), actor=_actor(request), lead=lead)
    messages.success(request, _("The restriction was lifted."))
    return back_to_request(slug, privacy_request)


@require_POST
def request_object(request: HttpRequest, slug: str, request_id: uuid.UUID) -> HttpResponse:
    privacy_request = access_request(request, request_id)
    lead = _subject(request, privacy_request)
    form = ObjectionForm(request.POST)
    if not form.is_valid():
        return request_page(request, privacy_request, objection_form=form, status=400)
    try:
        lead_object(
            workspace=_workspace(request),
            actor=_actor(request),
            lead=lead,
            scope=form.cleaned_data["scope"],
            request=privacy_request,
        )
    except (ValidationError, PrivacyActionRefused) as exc:
        flash_errors(request, exc)
    else:
        messages.success(request, _("The objection was applied."))
    return back_to_request(slug, privacy_request)


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
