"""The owner's audit log viewer at /w/<slug>/settings/audit/.

WorkspaceMiddleware has already turned the slug into ``request.membership`` (non-members
get 404 before these views run); the views only check the owner capability.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.selectors import audit_events_for_workspace
from heroshhi.audit.services import audit_record
from heroshhi.audit.verify import verify_chains
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.permissions import Capability, has_capability, require_capability

PAGE_SIZE = 50
AUDIT_LOG_TARGET = "audit_log"


def _session_key(request: WorkspaceRequest) -> str:
    return f"audit_verification:{request.workspace.pk}"


def _require_audit_view(request: WorkspaceRequest) -> None:
    """403 for members without the capability, after recording the refusal."""
    if not has_capability(request.membership.role, Capability.AUDIT_VIEW):
        audit_record(
            workspace=request.workspace,
            actor=request.actor,
            action=AuditAction.AUTHZ_FAIL,
            outcome=Outcome.DENIED,
            target=(AUDIT_LOG_TARGET, str(request.workspace.pk)),
            reason=Capability.AUDIT_VIEW.value,
        )
    require_capability(request.membership.role, Capability.AUDIT_VIEW)


def _before_seq(raw: str | None) -> int | None:
    try:
        value = int(raw or "")
    except ValueError:
        return None
    return value if value > 0 else None


@require_GET
def audit_log(request: WorkspaceRequest, slug: str) -> HttpResponse:
    _require_audit_view(request)
    before = _before_seq(request.GET.get("before"))
    events = audit_events_for_workspace(request.workspace, before_seq=before, limit=PAGE_SIZE + 1)
    next_before = events[PAGE_SIZE - 1].seq if len(events) > PAGE_SIZE else None
    events = events[:PAGE_SIZE]
    # Reading the log is a sensitive read itself: one event per page shown.
    audit_record(
        workspace=request.workspace,
        actor=request.actor,
        action=AuditAction.SENSITIVE_READ,
        target=(AUDIT_LOG_TARGET, str(request.workspace.pk)),
        metadata={"rows": len(events), **({"before_seq": before} if before else {})},
    )
    verification = request.session.pop(_session_key(request), None)
    if verification:
        verification["checked_at"] = parse_datetime(verification["checked_at"])
    context = {
        "events": events,
        "next_before": next_before,
        "is_first_page": before is None,
        "verification": verification,
    }
    return render(request, "audit/log.html", context)


@require_POST
def audit_verify(request: WorkspaceRequest, slug: str) -> HttpResponse:
    """Walks the workspace's whole chain, so only on request; the result is shown once."""
    _require_audit_view(request)
    (result,) = verify_chains([str(request.workspace.pk)])
    problem = result.problem
    request.session[_session_key(request)] = {
        "checked_at": timezone.now().isoformat(),
        "events": result.events_checked,
        "ok": problem is None,
        "code": problem.code.value if problem else None,
        "seq": problem.seq if problem else None,
        "detail": problem.detail if problem else None,
    }
    return redirect("audit:log", slug=request.workspace.slug)
