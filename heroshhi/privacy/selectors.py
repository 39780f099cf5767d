"""Reads for privacy requests, holidays and the restriction flag.

``is_restricted`` is the one question every send path asks (messaging, campaigns,
automations): keep it a single indexed lookup with no imports from those apps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.privacy.business_days import SlaState, sla_state, workspace_timezone
from heroshhi.privacy.models import (
    LeadRestriction,
    PrivacyReminder,
    PrivacyRequest,
    WorkspaceHoliday,
)
from heroshhi.workspaces.models import Workspace

LIST_LIMIT = 200
_OPEN = (PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS)


# Restriction ------------------------------------------------------------------------------


def restriction_for(*, workspace: Workspace, lead: Lead) -> LeadRestriction | None:
    with workspace_scope(workspace):
        return LeadRestriction.objects.filter(lead_id=lead.pk).first()


def is_restricted(*, workspace: Workspace, lead: Lead) -> bool:
    """True while processing of this lead is restricted: no sends of any kind."""
    with workspace_scope(workspace):
        return LeadRestriction.objects.filter(
            lead_id=lead.pk, restricted_at__isnull=False, lifted_at__isnull=True
        ).exists()


def is_analytics_excluded(*, workspace: Workspace, lead: Lead) -> bool:
    """True when the contact objected to analytics (or is restricted): leave them out."""
    row = restriction_for(workspace=workspace, lead=lead)
    return row is not None and (row.analytics_excluded or row.is_restricted)


# Holidays ---------------------------------------------------------------------------------


def holidays_list(*, workspace: Workspace) -> list[WorkspaceHoliday]:
    with workspace_scope(workspace):
        return list(WorkspaceHoliday.objects.order_by("date"))


def holiday_dates(*, workspace: Workspace) -> frozenset[date]:
    with workspace_scope(workspace):
        return frozenset(WorkspaceHoliday.objects.values_list("date", flat=True))


# Requests ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestFilters:
    status: str = ""
    type: str = ""
    overdue: bool = False


def parse_request_filters(
    *, status: str | None, type: str | None, overdue: str | bool | None
) -> RequestFilters:
    """Allow-listed filters, or a ValidationError naming the bad one."""
    errors: dict[str, list[str]] = {}
    if status and status not in PrivacyRequest.Status.values:
        errors["status"] = [_("Choose open, in_progress, completed or rejected.")]
    if type and type not in PrivacyRequest.Type.values:
        errors["type"] = [_("Choose one of the request types.")]
    flag = overdue if isinstance(overdue, bool) else (overdue or "").lower()
    if flag not in (True, False, "", "true", "false", "1", "0"):
        errors["overdue"] = [_("Use true or false.")]
    if errors:
        raise ValidationError(errors)
    return RequestFilters(status=status or "", type=type or "", overdue=flag in (True, "true", "1"))


@dataclass(frozen=True, slots=True)
class RequestRow:
    request: PrivacyRequest
    state: SlaState


def _rows(workspace: Workspace, requests: list[PrivacyRequest], now: datetime) -> list[RequestRow]:
    holidays = holiday_dates(workspace=workspace)
    tz = workspace_timezone(workspace)
    return [
        RequestRow(
            request=request,
            state=sla_state(
                now, request.due_at, closed=request.is_closed, holidays=holidays, tz=tz
            ),
        )
        for request in requests
    ]


def requests_list(
    *,
    workspace: Workspace,
    filters: RequestFilters = RequestFilters(),
    now: datetime | None = None,
    limit: int = LIST_LIMIT,
) -> list[RequestRow]:
    """Requests by deadline, open ones first; each with its SLA state."""
    now = now or timezone.now()
    with workspace_scope(workspace):
        requests = PrivacyRequest.objects.select_related("handler__user")
        if filters.status:
            requests = requests.filter(status=filters.status)
        if filters.type:
            requests = requests.filter(type=filters.type)
        if filters.overdue:
            requests = requests.filter(status__in=_OPEN, due_at__lt=now)
        ordered = list(requests.order_by("completed_at", "due_at", "id")[: min(limit, LIST_LIMIT)])
    # Open requests (no completed_at) first: the database puts NULLs first or last.
    ordered.sort(key=lambda r: (r.completed_at is not None, r.due_at, str(r.pk)))
    return _rows(workspace, ordered, now)


def request_row(
    *, workspace: Workspace, request: PrivacyRequest, now: datetime | None = None
) -> RequestRow:
    return _rows(workspace, [request], now or timezone.now())[0]


def requests_for_lead(*, workspace: Workspace, lead: Lead) -> list[PrivacyRequest]:
    with workspace_scope(workspace):
        return list(PrivacyRequest.objects.filter(lead_id=lead.pk).order_by("-received_at"))


def erasure_of_subject(*, workspace: Workspace, subject_ref: object) -> PrivacyRequest | None:
    """The completed erasure of this lead id, if it was erased."""
    try:
        ref = str(uuid.UUID(str(subject_ref)))
    except ValueError:
        return None
    with workspace_scope(workspace):
        return (
            PrivacyRequest.objects.filter(
                subject_ref=ref,
                type=PrivacyRequest.Type.ERASURE,
                status=PrivacyRequest.Status.COMPLETED,
                outcome__has_key="receipt",
            )
            .order_by("-completed_at")
            .first()
        )


def open_requests_count(*, workspace: Workspace) -> int:
    with workspace_scope(workspace):
        return PrivacyRequest.objects.filter(status__in=_OPEN).count()


def unread_reminders(*, workspace: Workspace, member_id: uuid.UUID) -> list[PrivacyReminder]:
    with workspace_scope(workspace):
        return list(
            PrivacyReminder.objects.filter(recipient_id=member_id, read_at__isnull=True)
            .select_related("request")
            .order_by("-created_at")[:50]
        )
