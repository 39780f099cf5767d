"""REST endpoints for privacy requests, under /api/v1/privacy-requests (owner and manager
keys). A request is due 2 business days after it was received (see business_days.py);
``sla`` says whether it is on track, due soon, overdue or closed.

Acting on a closed request answers 409 ``request_closed``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status
from pydantic import Field

from heroshhi.core.actors import Actor
from heroshhi.core.errors import ErrorEnvelope, error_response
from heroshhi.core.schemas import InputSchema, column_max
from heroshhi.leads.models import CustomField
from heroshhi.privacy import selectors
from heroshhi.privacy.access import access_privacy_request, access_subject
from heroshhi.privacy.business_days import SlaState
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.requests import (
    EVIDENCE_MAX,
    RECEIVED_MAX_AGE_DAYS,
    privacy_request_complete,
    privacy_request_create,
    privacy_request_reject,
)
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

router = Router(tags=["privacy requests"])

RequestType = Literal[
    "access", "portability", "rectification", "erasure", "restriction", "objection"
]


class PrivacyRequestIn(InputSchema):
    type: RequestType
    lead: uuid.UUID = Field(description="The lead the request is about.")
    channel: Literal["dashboard", "email", "api"] = "api"
    scope: Literal["marketing", "analytics"] | None = Field(
        None, description="Objections only: what the person objects to."
    )
    received_at: datetime | None = Field(
        None,
        description="When the request reached you (default: now); sets the due date. With a "
        f"time zone, not in the future (5 minutes of clock skew allowed) and at most "
        f"{RECEIVED_MAX_AGE_DAYS} days back, the statutory response period; otherwise 422.",
    )
    evidence: str | None = Field(None, max_length=EVIDENCE_MAX)


class RequesterOut(Schema):
    name: str | None
    email: str | None
    phone: str | None
    message: str | None


class PrivacyRequestOut(Schema):
    id: uuid.UUID
    reference: str
    type: str
    scope: str
    lead: uuid.UUID | None = Field(description="Empty once the lead was erased.")
    subject: str = Field(description="The lead's id, kept after an erasure.")
    channel: str
    status: str
    sla: str = Field(description="on_track, due_soon, overdue or closed.")
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    handler: uuid.UUID | None
    requester: RequesterOut | None = Field(description="What the public form received.")
    outcome: dict[str, Any] = Field(
        description="Counts and ids only: the export's sizes, the erasure receipt, the "
        "names of corrected fields."
    )


# A lead field's name, or "custom:" and a custom field's key.
FieldName = Annotated[str, Field(max_length=len("custom:") + column_max(CustomField, "key"))]


class CompleteIn(InputSchema):
    evidence: str | None = Field(None, max_length=EVIDENCE_MAX)
    rectified_fields: list[FieldName] | None = Field(
        None, max_length=50, description="Rectification: the corrected fields' names."
    )


class RejectIn(InputSchema):
    evidence: str = Field(max_length=EVIDENCE_MAX, description="Why it is refused.")


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return request.workspace, request.actor  # type: ignore[attr-defined]


def refusal_response(exc: PrivacyActionRefused) -> HttpResponse:
    return error_response(409, exc.code, exc.message)


def request_out(
    workspace: Workspace, privacy_request: PrivacyRequest, state: SlaState | None = None
) -> PrivacyRequestOut:
    """``state`` when the caller has it already (lists), else it is worked out here."""
    if state is None:
        state = selectors.request_row(workspace=workspace, request=privacy_request).state
    requester = None
    if privacy_request.channel == PrivacyRequest.Channel.PUBLIC_FORM:
        requester = RequesterOut(
            name=privacy_request.requester_name,
            email=privacy_request.requester_email,
            phone=privacy_request.requester_phone,
            message=privacy_request.requester_message,
        )
    return PrivacyRequestOut(
        id=privacy_request.pk,
        reference=privacy_request.reference,
        type=privacy_request.type,
        scope=privacy_request.scope,
        lead=privacy_request.lead_id,
        subject=privacy_request.subject_ref,
        channel=privacy_request.channel,
        status=privacy_request.status,
        sla=state.value,
        received_at=privacy_request.received_at,
        due_at=privacy_request.due_at,
        completed_at=privacy_request.completed_at,
        handler=privacy_request.handler_id,
        requester=requester,
        outcome=privacy_request.outcome or {},
    )


def _access(request: HttpRequest, request_id: str) -> PrivacyRequest:
    workspace, actor = _context(request)
    return access_privacy_request(workspace=workspace, actor_role=actor.role or "", uid=request_id)


@router.post("", response={201: PrivacyRequestOut, 404: ErrorEnvelope})
def privacy_requests_create(
    request: HttpRequest, payload: PrivacyRequestIn
) -> Status[PrivacyRequestOut]:
    workspace, actor = _context(request)
    lead = access_subject(workspace=workspace, actor_role=actor.role or "", uid=payload.lead)
    created = privacy_request_create(
        workspace=workspace,
        actor=actor,
        type=payload.type,
        lead=lead,
        channel=payload.channel,
        scope=payload.scope or "",
        evidence=payload.evidence,
        received_at=payload.received_at,
    )
    return Status(201, request_out(workspace, created))


@router.get("", response=list[PrivacyRequestOut])
def privacy_requests_list(
    request: HttpRequest,
    status: str | None = None,
    type: str | None = None,
    overdue: str | None = None,
    limit: int = selectors.LIST_LIMIT,
) -> list[PrivacyRequestOut]:
    """By due date, open requests first (at most 200); filter by ``status``, ``type`` and
    ``overdue``."""
    workspace, actor = _context(request)
    require_capability(actor.role or "", Capability.PRIVACY_REQUESTS_MANAGE)
    if not 1 <= limit <= selectors.LIST_LIMIT:
        raise ValidationError({"limit": [f"Use 1 to {selectors.LIST_LIMIT}."]})
    filters = selectors.parse_request_filters(status=status, type=type, overdue=overdue)
    rows = selectors.requests_list(workspace=workspace, filters=filters, limit=limit)
    return [request_out(workspace, row.request, row.state) for row in rows]


@router.get("/{request_id}", response=PrivacyRequestOut)
def privacy_requests_retrieve(request: HttpRequest, request_id: str) -> PrivacyRequestOut:
    workspace, _actor = _context(request)
    return request_out(workspace, _access(request, request_id))


@router.post("/{request_id}/complete", response={200: PrivacyRequestOut, 409: ErrorEnvelope})
def privacy_requests_complete(
    request: HttpRequest, request_id: str, payload: CompleteIn
) -> PrivacyRequestOut | HttpResponse:
    workspace, actor = _context(request)
    privacy_request = _access(request, request_id)
    try:
        done = privacy_request_complete(
            workspace=workspace,
            actor=actor,
            request=privacy_request,
            evidence=payload.evidence,
            rectified_fields=payload.rectified_fields,
        )
    except PrivacyActionRefused as exc:
        return refusal_response(exc)
    return request_out(workspace, done)


@router.post("/{request_id}/reject", response={200: PrivacyRequestOut, 409: ErrorEnvelope})
def privacy_requests_reject(
    request: HttpRequest, request_id: str, payload: RejectIn
) -> PrivacyRequestOut | HttpResponse:
    workspace, actor = _context(request)
    privacy_request = _access(request, request_id)
    try:
        done = privacy_request_reject(
            workspace=workspace, actor=actor, request=privacy_request, evidence=payload.evidence
        )
    except PrivacyActionRefused as exc:
        return refusal_response(exc)
    return request_out(workspace, done)
