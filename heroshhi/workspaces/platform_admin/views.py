"""Pages of the platform admin console. Staff only; everyone else gets a plain 404, so the
console does not even admit that it exists."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.selectors import audit_events_platform
from heroshhi.audit.services import audit_record
from heroshhi.audit.verify import ChainResult, verify_chains
from heroshhi.core.actors import Actor, ActorType
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.platform_admin import selectors
from heroshhi.workspaces.platform_admin.forms import StatusChangeForm, WorkspaceFilterForm
from heroshhi.workspaces.platform_admin.services import (
    REASON_LABELS,
    StatusChangeReason,
    workspace_reactivate,
    workspace_suspend,
)

EVENTS_PAGE = 50
VERIFY_SESSION_KEY = "platform_audit_verification"
# Enough to act on; the audit_verify command lists every problem.
MAX_PROBLEMS_SHOWN = 20

View = Callable[..., HttpResponse]


class PlatformRequest(HttpRequest):
    """A request that passed ``platform_staff_only``: ``actor`` is the operator."""

    actor: Actor


def platform_staff_only(view: View) -> View:
    """Outermost decorator of every console view, so that even a wrong method gets 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            if user.is_authenticated:
                # A signed-in customer probing the console is a platform security event.
                audit_record(
                    workspace=None,
                    actor=Actor.user(user.pk),
                    action=AuditAction.AUTHZ_FAIL,
                    outcome=Outcome.DENIED,
                    target=("platform_console", view.__name__),
                    reason="not_staff",
                )
            raise Http404
        request.actor = Actor(type=ActorType.PLATFORM_ADMIN, id=str(user.pk))  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def _workspace_or_404(workspace_id: object) -> Workspace:
    workspace = selectors.platform_workspace(workspace_id)
    if workspace is None:
        raise Http404
    return workspace


# --- Workspaces -------------------------------------------------------------------------


@platform_staff_only
@require_GET
def workspace_list(request: PlatformRequest) -> HttpResponse:
    form = WorkspaceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = selectors.platform_workspaces(
        status=filters.get("status", ""),
        search=filters.get("q", ""),
        after=request.GET.get("after"),
    )
    context = {
        "form": form,
        "page": page,
        "usage_labels": selectors.usage_labels(),
        "status_counts": [
            (Workspace.Status(status).label, count)
            for status, count in selectors.workspace_status_counts().items()
        ],
        "is_first_page": not request.GET.get("after"),
    }
    return render(request, "platform/workspace_list.html", context)


def _reason_label(event: AuditEvent | None) -> str | Promise | None:
    code = event.metadata.get("reason") if event is not None else None
    try:
        return REASON_LABELS[StatusChangeReason(str(code))]
    except ValueError:
        return None


def _render_detail(
    request: HttpRequest, workspace: Workspace, form: StatusChangeForm, status: int = 200
) -> HttpResponse:
    facts = selectors.platform_workspace_facts(workspace)
    context = {
        "facts": facts,
        "form": form,
        "last_change_reason": _reason_label(facts.last_status_change),
    }
    return render(request, "platform/workspace_detail.html", context, status=status)


@platform_staff_only
@require_GET
def workspace_detail(request: PlatformRequest, workspace_id: uuid.UUID) -> HttpResponse:
    return _render_detail(request, _workspace_or_404(workspace_id), StatusChangeForm())


def _status_change(
    request: PlatformRequest, workspace_id: uuid.UUID, service: Callable[..., Workspace], done: str
) -> HttpResponse:
    workspace = _workspace_or_404(workspace_id)
    form = StatusChangeForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, workspace, form, status=400)
    try:
        service(workspace=workspace, actor=request.actor, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect("platform:workspace_detail", workspace_id=workspace.pk)


@platform_staff_only
@require_POST
def workspace_suspend_view(request: PlatformRequest, workspace_id: uuid.UUID) -> HttpResponse:
    return _status_change(request, workspace_id, workspace_suspend, _("Workspace suspended."))


@platform_staff_only
@require_POST
def workspace_reactivate_view(request: PlatformRequest, workspace_id: uuid.UUID) -> HttpResponse:
    return _status_change(request, workspace_id, workspace_reactivate, _("Workspace reactivated."))


# --- Platform audit events --------------------------------------------------------------


def _verification_summary(results: list[ChainResult]) -> dict[str, object]:
    """What the page shows of a verification run; plain JSON, kept in the session."""
    problems = [
        {
            "chain": result.chain,
            "code": result.problem.code.value,
            "seq": result.problem.seq,
            "detail": result.problem.detail,
        }
        for result in results
        if result.problem is not None
    ]
    return {
        "checked_at": timezone.now().isoformat(),
        "chains": len(results),
        "events": sum(result.events_checked for result in results),
        "problem_count": len(problems),
        "problems": problems[:MAX_PROBLEMS_SHOWN],
    }


@platform_staff_only
@require_GET
def audit_events(request: PlatformRequest) -> HttpResponse:
    before = _positive_int(request.GET.get("before"))
    events = audit_events_platform(before_seq=before, limit=EVENTS_PAGE + 1)
    next_before = events[EVENTS_PAGE - 1].seq if len(events) > EVENTS_PAGE else None
    events = events[:EVENTS_PAGE]
    # Sign-in addresses and operator actions are sensitive too: reading them is recorded.
    audit_record(
        workspace=None,
        actor=request.actor,
        action=AuditAction.SENSITIVE_READ,
        target=("audit_log", "platform"),
        metadata={"rows": len(events), **({"before_seq": before} if before else {})},
    )
    verification = request.session.pop(VERIFY_SESSION_KEY, None)
    chains = [e.target_id for e in events if e.target_type == "workspace"]
    if verification:
        verification["checked_at"] = parse_datetime(verification["checked_at"])
        chains += [problem["chain"] for problem in verification["problems"]]
    context = {
        "events": events,
        "next_before": next_before,
        "is_first_page": before is None,
        "verification": verification,
        "live_workspace_ids": selectors.workspace_ids_among(chains),
    }
    return render(request, "platform/audit_events.html", context)


@platform_staff_only
@require_POST
def audit_verify(request: PlatformRequest) -> HttpResponse:
    """Walks every chain, so it runs only when asked, never on a page load."""
    request.session[VERIFY_SESSION_KEY] = _verification_summary(verify_chains())
    return redirect("platform:audit_events")
