"""REST endpoints for a lead's call log, under /api/v1/leads/{id}/calls."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from heroshhi.core.actors import Actor
from heroshhi.core.schemas import InputSchema, column_max
from heroshhi.leads.access import access_lead
from heroshhi.leads.models import Lead
from heroshhi.leads.services.sensitive_reads import lead_record_view
from heroshhi.leads.validation import NOTE_MAX
from heroshhi.messaging.calls import (
    CALL_MAX_AGE_DAYS,
    MAX_DURATION_SECONDS,
    RECORDING_URL_MAX,
    call_log,
    calls_for_lead,
)
from heroshhi.messaging.models import Call
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability

router = Router(tags=["calls"])


class CallIn(InputSchema):
    direction: str = Field(max_length=column_max(Call, "direction"), description="in or out")
    started_at: datetime = Field(
        description="ISO 8601 with a time zone; not in the future (5 minutes of clock skew "
        f"allowed) and at most {CALL_MAX_AGE_DAYS} days back, otherwise 422."
    )
    duration_seconds: int = Field(0, ge=0, le=MAX_DURATION_SECONDS)
    outcome: str = Field(
        max_length=column_max(Call, "outcome"),
        description="connected, no_answer, busy, failed or voicemail",
    )
    notes: str | None = Field(None, max_length=NOTE_MAX)
    recording_url: str | None = Field(None, max_length=RECORDING_URL_MAX)
    from_number: str | None = Field(None, max_length=40)
    to_number: str | None = Field(None, max_length=40)


class CallOut(Schema):
    id: uuid.UUID
    via: str
    direction: str
    started_at: datetime
    duration_seconds: int
    outcome: str
    notes: str | None
    recording_url: str | None
    from_number: str | None
    to_number: str | None
    logged_by: uuid.UUID | None
    created_at: datetime


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return request.workspace, request.actor  # type: ignore[attr-defined]


def _lead(request: HttpRequest, lead_id: str, perm: Capability) -> Lead:
    workspace, actor = _context(request)
    return access_lead(
        workspace=workspace,
        actor_role=actor.role or "",
        member_id=None,  # an API key is no member
        uid=lead_id,
        perm=perm,
    )


def _call_out(call: Call) -> CallOut:
    return CallOut(
        id=call.pk,
        via=call.via,
        direction=call.direction,
        started_at=call.started_at,
        duration_seconds=call.duration_seconds,
        outcome=call.outcome,
        notes=call.notes,
        recording_url=call.recording_url,
        from_number=call.from_number,
        to_number=call.to_number,
        logged_by=call.logged_by_id,
        created_at=call.created_at,
    )


@router.get("/{lead_id}/calls", response=list[CallOut])
def lead_calls_list(request: HttpRequest, lead_id: str) -> list[CallOut]:
    """The lead's calls, newest first: logged by hand, by API and from WhatsApp Calling."""
    workspace, actor = _context(request)
    lead = _lead(request, lead_id, Capability.LEADS_VIEW_ASSIGNED)
    lead_record_view(workspace=workspace, actor=actor, lead=lead)
    return [_call_out(call) for call in calls_for_lead(workspace=workspace, lead=lead)]


@router.post("/{lead_id}/calls", response={201: CallOut})
def lead_calls_create(request: HttpRequest, lead_id: str, payload: CallIn) -> Status[CallOut]:
    """Log a call that happened (outside WhatsApp, or one WhatsApp did not report)."""
    workspace, actor = _context(request)
    lead = _lead(request, lead_id, Capability.CALLS_LOG)
    call = call_log(workspace=workspace, actor=actor, lead=lead, **payload.model_dump())
    return Status(201, _call_out(call))
