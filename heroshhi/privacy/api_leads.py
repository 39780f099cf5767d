"""A contact's rights as lead sub-resources, under /api/v1/leads/{id}/… (owner and manager
keys):

* ``GET  /leads/{id}/export`` everything held about the person, as JSON, or with
  ``?format=zip`` a zip of that JSON plus one CSV per category;
* ``POST /leads/{id}/erase`` hard-deletes the lead and everything about them at once and
  answers the erasure receipt (counts per table, no personal data); an id that was erased
  before answers 409 ``already_erased``, an unknown one 404;
* ``POST /leads/{id}/restrict`` and ``/unrestrict``: while restricted, every send to the
  lead is refused with 409 ``restricted``;
* ``GET  /leads/{id}/consent`` the marketing consent state and history, and
  ``POST /leads/{id}/consent`` records consent (``status: granted``, with ``source``) or
  its withdrawal (``status: withdrawn``, which also opts the contact out).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Router, Schema, Status

from heroshhi.core.actors import Actor
from heroshhi.core.errors import ErrorEnvelope
from heroshhi.core.openapi_content import ZIP
from heroshhi.core.schemas import InputSchema
from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.selectors import viewer_for, visible_leads
from heroshhi.privacy import consent
from heroshhi.privacy.access import access_subject
from heroshhi.privacy.api import refusal_response
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import ConsentRecord, LeadRestriction
from heroshhi.privacy.report import report_download
from heroshhi.privacy.services.erasure import lead_erase
from heroshhi.privacy.services.exports import lead_access_export
from heroshhi.privacy.services.restriction import lead_restrict, lead_unrestrict
from heroshhi.workspaces.models import Workspace

router = Router(tags=["privacy requests"])


class ReceiptLineOut(Schema):
    table: str
    what: str
    count: int


class ErasureReceiptOut(Schema):
    request: uuid.UUID
    reference: str
    subject: uuid.UUID
    erased_at: datetime
    deleted: list[ReceiptLineOut]
    total_deleted: int
    kept: dict[str, int]


class RestrictionOut(Schema):
    lead: uuid.UUID
    restricted: bool
    restricted_at: datetime | None
    lifted_at: datetime | None
    analytics_excluded: bool


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return request.workspace, request.actor  # type: ignore[attr-defined]


def _restriction_out(lead_id: uuid.UUID, row: LeadRestriction | None) -> RestrictionOut:
    return RestrictionOut(
        lead=lead_id,
        restricted=bool(row and row.is_restricted),
        restricted_at=row.restricted_at if row else None,
        lifted_at=row.lifted_at if row else None,
        analytics_excluded=bool(row and row.analytics_excluded),
    )


@router.get(
    "/{lead_id}/export",
    response={200: dict[str, Any]},
    openapi_extra={"responses": {200: {"content": ZIP}}},
)
def lead_privacy_export(
    request: HttpRequest, lead_id: str, format: Literal["json", "zip"] = "json"
) -> HttpResponse:
    """Access (JSON) or portability (``format=zip``); one ``data_export`` audit event."""
    workspace, actor = _context(request)
    lead = access_subject(workspace=workspace, actor_role=actor.role or "", uid=lead_id)
    report = lead_access_export(workspace=workspace, actor=actor, lead=lead, format=format)
    if format == "zip":
        return report_download(report, fmt="zip", name=str(lead.pk))
    response = JsonResponse(report, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return response


@router.post("/{lead_id}/erase", response={200: ErasureReceiptOut, 409: ErrorEnvelope})
def lead_privacy_erase(request: HttpRequest, lead_id: str) -> dict[str, Any] | HttpResponse:
    workspace, actor = _context(request)
    try:
        return lead_erase(workspace=workspace, actor=actor, lead_id=lead_id)
    except PrivacyActionRefused as exc:
        return refusal_response(exc)


@router.post("/{lead_id}/restrict", response=RestrictionOut)
def lead_privacy_restrict(request: HttpRequest, lead_id: str) -> RestrictionOut:
    workspace, actor = _context(request)
    lead = access_subject(workspace=workspace, actor_role=actor.role or "", uid=lead_id)
    row = lead_restrict(workspace=workspace, actor=actor, lead=lead)
    return _restriction_out(lead.pk, row)


@router.post("/{lead_id}/unrestrict", response=RestrictionOut)
def lead_privacy_unrestrict(request: HttpRequest, lead_id: str) -> RestrictionOut:
    workspace, actor = _context(request)
    lead = access_subject(workspace=workspace, actor_role=actor.role or "", uid=lead_id)
    row = lead_unrestrict(workspace=workspace, actor=actor, lead=lead)
    return _restriction_out(lead.pk, row)


# Consent ----------------------------------------------------------------------------------


class ConsentIn(InputSchema):
    status: Literal["granted", "withdrawn"]
    purpose: Literal["marketing"] = "marketing"
    source: Literal["form", "ad", "import", "chat", "manual", "api"] = Field(
        "api", description="How the contact agreed (grants only)."
    )
    notice_version: str = Field(
        "", max_length=40, description="A label of the wording the contact saw, e.g. 2026-02."
    )
    given_at: datetime | None = Field(
        None,
        description="When the contact agreed (default: now). Grants only. With a time zone, "
        f"not in the future (5 minutes of clock skew allowed) and at most "
        f"{consent.CONSENT_MAX_AGE_DAYS} days (3 years) back; otherwise 422.",
    )


class ConsentRecordOut(Schema):
    id: uuid.UUID
    purpose: str
    status: str
    source: str
    notice_version: str
    given_at: datetime
    recorded_at: datetime
    recorded_by: str


class ConsentOut(Schema):
    lead: uuid.UUID
    marketing_consent: bool = Field(
        description="True when the latest marketing record is a grant and the contact is "
        "not opted out: what campaigns require."
    )
    history: list[ConsentRecordOut]


def _consent_lead(request: HttpRequest, lead_id: str) -> Any:
    """Any lead the key may see (sales keys: their own), live or in the trash."""
    workspace, actor = _context(request)
    with workspace_scope(workspace):
        return get_in_scope_or_404(visible_leads(viewer=viewer_for(actor=actor)), lead_id)


def _consent_out(workspace: Workspace, lead: Any) -> ConsentOut:
    history = consent.consent_history(workspace=workspace, lead=lead)
    return ConsentOut(
        lead=lead.pk,
        marketing_consent=consent.has_marketing_consent(workspace=workspace, lead=lead),
        history=[_record_out(record) for record in history],
    )


def _record_out(record: ConsentRecord) -> ConsentRecordOut:
    return ConsentRecordOut(
        id=record.pk,
        purpose=record.purpose,
        status=record.status,
        source=record.source,
        notice_version=record.notice_version,
        given_at=record.given_at,
        recorded_at=record.created_at,
        recorded_by=record.actor_type,
    )


@router.get("/{lead_id}/consent", response=ConsentOut)
def lead_consent_state(request: HttpRequest, lead_id: str) -> ConsentOut:
    workspace, _actor = _context(request)
    return _consent_out(workspace, _consent_lead(request, lead_id))


@router.post("/{lead_id}/consent", response={201: ConsentOut})
def lead_consent_record(
    request: HttpRequest, lead_id: str, payload: ConsentIn
) -> Status[ConsentOut]:
    workspace, actor = _context(request)
    lead = _consent_lead(request, lead_id)
    if payload.status == "granted":
        consent.consent_grant(
            workspace=workspace,
            actor=actor,
            lead=lead,
            source=payload.source,
            notice_version=payload.notice_version,
            given_at=payload.given_at,
            purpose=payload.purpose,
        )
    else:
        consent.consent_withdraw(
            workspace=workspace, actor=actor, lead=lead, purpose=payload.purpose
        )
    return Status(201, _consent_out(workspace, lead))
