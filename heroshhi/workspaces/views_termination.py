"""The owner's danger zone: export the whole workspace, request or cancel termination.

Thin: the work is in ``export`` and ``termination``. Every page here is owners-only
(``workspace.export`` and ``workspace.terminate``); the termination steps ask for the
password (and a two-factor code) again.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from heroshhi.accounts.models import User
from heroshhi.accounts.selectors import user_has_two_factor
from heroshhi.accounts.views_data_rights import IdentityForm, identity_confirmed
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces import export, export_files, termination
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.models import WorkspaceExport
from heroshhi.workspaces.permissions import Capability, has_capability

TERMINATE_PREFIX = "terminate"
CANCEL_PREFIX = "cancel"


class TerminateForm(IdentityForm):
    confirm = forms.CharField(
        label=gettext_lazy("Type the workspace's address to confirm"),
        max_length=60,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


def _require(request: WorkspaceRequest, capability: Capability) -> None:
    if not has_capability(request.membership.role, capability):
        raise PermissionDenied(capability.value)


def _user(request: WorkspaceRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _page(
    request: WorkspaceRequest,
    *,
    terminate_form: TerminateForm | None = None,
    cancel_form: IdentityForm | None = None,
    status: int = 200,
) -> HttpResponse:
    workspace = request.workspace
    latest = export.latest_export(workspace=workspace)
    context = {
        "latest": latest,
        "latest_link": export.download_token(latest) if latest and _downloadable(latest) else "",
        "terminating": workspace.status == workspace.Status.TERMINATING,
        "deletion_due_at": termination.deletion_due_at(workspace),
        "grace_days": termination.GRACE_PERIOD.days,
        "export_hours": int(export_files.EXPORT_TTL.total_seconds() // 3600),
        "has_two_factor": user_has_two_factor(user=_user(request)),
        "terminate_form": terminate_form or TerminateForm(prefix=TERMINATE_PREFIX),
        "cancel_form": cancel_form or IdentityForm(prefix=CANCEL_PREFIX),
    }
    return render(request, "workspaces/termination.html", context, status=status)


def _downloadable(item: WorkspaceExport) -> bool:
    return (
        item.status == WorkspaceExport.Status.READY
        and item.expires_at is not None
        and item.expires_at > timezone.now()
    )


@never_cache
@require_GET
def danger_zone(request: WorkspaceRequest, slug: str) -> HttpResponse:
    _require(request, Capability.WORKSPACE_TERMINATE)
    return _page(request)


# --- Export -------------------------------------------------------------------------------


@require_POST
def export_start(request: WorkspaceRequest, slug: str) -> HttpResponse:
    _require(request, Capability.WORKSPACE_EXPORT)
    export.workspace_export_start(
        workspace=request.workspace, actor=request.actor, requested_by=_user(request)
    )
    messages.success(request, _("The export is being prepared. This page shows its progress."))
    return redirect("workspaces:danger_zone", slug=slug)


@never_cache
@require_GET
def export_status(request: WorkspaceRequest, slug: str, export_id: uuid.UUID) -> HttpResponse:
    """The export's card again, for htmx polling while it is prepared."""
    _require(request, Capability.WORKSPACE_EXPORT)
    with workspace_scope(request.workspace):
        item = WorkspaceExport.objects.filter(pk=export_id).first()
    if item is None:
        raise Http404
    link = export.download_token(item) if _downloadable(item) else None
    return render(request, "workspaces/export_status.html", {"item": item, "link": link})


@never_cache
@require_GET
def export_download(
    request: WorkspaceRequest, slug: str, token: str
) -> HttpResponse | StreamingHttpResponse:
    _require(request, Capability.WORKSPACE_EXPORT)
    try:
        item = export.export_for_token(workspace=request.workspace, token=token)
    except export.ExportLinkInvalid:
        return render(request, "workspaces/export_link.html", {"expired": False}, status=404)
    except export.ExportLinkExpired:
        return render(request, "workspaces/export_link.html", {"expired": True}, status=410)
    export.export_download_record(workspace=request.workspace, actor=request.actor, export=item)
    stamp = (item.finished_at or timezone.now()).strftime("%Y%m%d")
    response = StreamingHttpResponse(
        export_files.export_chunks(item), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"workspace-export-{stamp}.zip"
    )
    response["Content-Length"] = str(item.size_bytes)
    response["Cache-Control"] = "no-store"
    return response


# --- Termination --------------------------------------------------------------------------


@sensitive_post_parameters()
@never_cache
@require_POST
def terminate(request: WorkspaceRequest, slug: str) -> HttpResponse:
    _require(request, Capability.WORKSPACE_TERMINATE)
    form = TerminateForm(request.POST, prefix=TERMINATE_PREFIX)
    # The typed address is checked first, so a slip there uses up no password attempt
    # and no two-factor code.
    if form.is_valid() and form.cleaned_data["confirm"].strip() != request.workspace.slug:
        form.add_error("confirm", _("Type the address exactly as shown."))
    if not identity_confirmed(_user(request), form):
        return _page(request, terminate_form=form, status=400)
    try:
        termination.workspace_termination_request(workspace=request.workspace, actor=request.actor)
    except termination.TerminationError as error:
        messages.error(request, str(error))
        return _page(request, status=409)
    messages.success(
        request,
        _("Termination requested. Sending and API keys are stopped; you can cancel for 30 days."),
    )
    return redirect("workspaces:danger_zone", slug=slug)


@sensitive_post_parameters()
@never_cache
@require_POST
def terminate_cancel(request: WorkspaceRequest, slug: str) -> HttpResponse:
    _require(request, Capability.WORKSPACE_TERMINATE)
    form = IdentityForm(request.POST, prefix=CANCEL_PREFIX)
    if not identity_confirmed(_user(request), form):
        return _page(request, cancel_form=form, status=400)
    try:
        termination.workspace_termination_cancel(workspace=request.workspace, actor=request.actor)
    except termination.TerminationError as error:
        messages.error(request, str(error))
        return _page(request, status=409)
    messages.success(request, _("Termination cancelled. The workspace works as before."))
    return redirect("workspaces:danger_zone", slug=slug)
