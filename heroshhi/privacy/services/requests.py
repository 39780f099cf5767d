"""Writes of privacy requests themselves: recording one (staff, API or the public form),
linking it to its lead, and closing it as completed or rejected."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import EMAIL, PHONE, blind_index
from heroshhi.core.instants import clean_past_instant
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.models import CustomField, Lead
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.common import (
    PROGRESS_FIELDS,
    audit_request,
    clean_choice,
    clean_request_scope,
    clean_text,
    ensure_open,
    is_late,
    member_id_of,
    new_request,
    require_manage,
    start_handling,
)
from heroshhi.workspaces.models import Workspace

EVIDENCE_MAX = 5000
MESSAGE_MAX = 2000
# Staff record requests that reached them by these routes; the public form has its own.
STAFF_CHANNELS = (
    PrivacyRequest.Channel.DASHBOARD,
    PrivacyRequest.Channel.EMAIL,
    PrivacyRequest.Channel.API,
)
# Lead fields a rectification can name (custom fields are "custom:<key>").
RECTIFIABLE_FIELDS = frozenset(
    {"name", "phone", "email", "description", "source_details", "stage", "owner", "tags"}
    | {"deal_value"}
)
# How far back staff may date a request's receipt: the longest statutory response period we
# answer to (GDPR's one month). An older date gives a deadline already past under every law,
# which hides a typing error rather than recording a real late request.
RECEIVED_MAX_AGE_DAYS = 30


@transaction.atomic
def privacy_request_create(
    *,
    workspace: Workspace,
    actor: Actor,
    type: str,
    lead: Lead,
    channel: str,
    scope: str = "",
    evidence: str | None = None,
    received_at: datetime | None = None,
) -> PrivacyRequest:
    """A request staff received (dashboard, e-mail) or an API client records, about a lead.

    Due 2 business days after ``received_at`` (default: now, at most
    ``RECEIVED_MAX_AGE_DAYS`` back); see business_days.py."""
    require_manage(actor)
    request_type = clean_choice(
        type,
        field="type",
        choices=PrivacyRequest.Type.values,
        message=_("Choose access, portability, rectification, erasure, restriction or objection."),
    )
    clean_scope = clean_request_scope(request_type, scope)
    clean_channel = clean_choice(
        channel,
        field="channel",
        choices=STAFF_CHANNELS,
        message=_("Choose dashboard, email or api."),
    )
    note = clean_text(evidence, field="evidence", max_length=EVIDENCE_MAX)
    if lead is None or lead.workspace_id != workspace.pk:
        raise ValidationError({"lead": [_("Choose the lead the request is about.")]})
    received = timezone.now()
    if received_at is not None:
        received = clean_past_instant(
            received_at, field="received_at", max_age_days=RECEIVED_MAX_AGE_DAYS
        )
    with workspace_scope(workspace):
        request = new_request(
            workspace=workspace,
            request_type=request_type,
            scope=clean_scope,
            lead=lead,
            channel=clean_channel,
            created_by=member_id_of(actor),
            received_at=received,
            evidence=note or None,
        )
        audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_CREATED,
            request=request,
            channel=request.channel,
            scope=request.scope,
            due_at=request.due_at.isoformat(),
        )
    return request


def _match_lead(workspace: Workspace, *, email: str | None, phone: str | None) -> Lead | None:
    """The lead this contact is, by e-mail or phone blind index; live leads first."""
    lookups = []
    if email:
        lookups.append({"email_bidx": blind_index(workspace.pk, EMAIL, email)})
    if phone:
        lookups.append({"phone_bidx": blind_index(workspace.pk, PHONE, phone)})
    for lookup in lookups:
        found = (
            Lead.objects.filter(**lookup)
            .order_by(models.F("deleted_at").asc(nulls_first=True), "created_at")
            .first()
        )
        if found is not None:
            return found
    return None


@transaction.atomic
def privacy_request_submit_public(
    *,
    workspace: Workspace,
    name: str,
    email: str | None,
    phone: str | None,
    type: str,
    message: str | None,
    scope: str = "",
) -> PrivacyRequest:
    """A request from the public form. Linked to the matching lead when the e-mail or phone
    finds one; the answer is the same either way, so the form reveals nothing."""
    request_type = clean_choice(
        type,
        field="type",
        choices=PrivacyRequest.Type.values,
        message=_("Choose what you are asking for."),
    )
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    checks = {
        "name": lambda: clean_text(
            name, field="name", max_length=validation.NAME_MAX, required=True
        ),
        "email": lambda: validation.clean_email(email),
        "phone": lambda: validation.clean_phone(phone),
        "message": lambda: clean_text(message, field="message", max_length=MESSAGE_MAX),
        "scope": lambda: clean_request_scope(request_type, scope),
    }
    for field, check in checks.items():
        try:
            cleaned[field] = check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not errors and not (cleaned["email"] or cleaned["phone"]):
        errors["email"] = [_("Give an e-mail address or a phone number so we can reply.")]
    if errors:
        raise ValidationError(errors)
    with workspace_scope(workspace):
        lead = _match_lead(workspace, email=cleaned["email"], phone=cleaned["phone"])
        request = new_request(
            workspace=workspace,
            request_type=request_type,
            scope=cleaned["scope"],
            lead=lead,
            channel=PrivacyRequest.Channel.PUBLIC_FORM,
            created_by=None,
            received_at=timezone.now(),
            requester_name=cleaned["name"],
            requester_email=cleaned["email"],
            requester_phone=cleaned["phone"],
            requester_message=cleaned["message"] or None,
            requester_email_bidx=(
                blind_index(workspace.pk, EMAIL, cleaned["email"]) if cleaned["email"] else None
            ),
            requester_phone_bidx=(
                blind_index(workspace.pk, PHONE, cleaned["phone"]) if cleaned["phone"] else None
            ),
        )
        audit_request(
            workspace=workspace,
            actor=Actor.anonymous(),
            action=AuditAction.PRIVACY_REQUEST_CREATED,
            request=request,
            channel=request.channel,
            matched=lead is not None,
        )
    return request


@transaction.atomic
def privacy_request_link_lead(
    *, workspace: Workspace, actor: Actor, request: PrivacyRequest, lead: Lead
) -> PrivacyRequest:
    """Name the lead a public-form request is about, once staff have found it."""
    require_manage(actor)
    ensure_open(request)
    if lead.workspace_id != workspace.pk:
        raise Http404
    if request.lead_id is not None:
        raise ValidationError({"lead": [_("This request is already linked to a lead.")]})
    with workspace_scope(workspace):
        request.lead = lead
        request.subject_ref = str(lead.pk)
        start_handling(request, member_id=member_id_of(actor))
        request.save(update_fields=["lead", "subject_ref", *PROGRESS_FIELDS])
        audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_UPDATED,
            request=request,
            reason="lead_linked",
        )
    return request


def _clean_rectified(workspace: Workspace, fields: Iterable[str] | None) -> list[str]:
    names = [str(name).strip() for name in fields or [] if str(name).strip()]
    if not names:
        raise ValidationError({"rectified_fields": [_("Name the fields that were corrected.")]})
    with workspace_scope(workspace):
        custom = {f"custom:{key}" for key in CustomField.objects.values_list("key", flat=True)}
    unknown = sorted(set(names) - RECTIFIABLE_FIELDS - custom)
    if unknown:
        raise ValidationError(
            {
                "rectified_fields": [
                    _("These are not lead fields: %(names)s") % {"names": ", ".join(unknown)}
                ]
            }
        )
    return sorted(set(names))


def _completion_check(request: PrivacyRequest) -> None:
    """A request is complete when its right was acted on, not just when someone says so."""
    outcome = request.outcome or {}
    needs = {
        PrivacyRequest.Type.ACCESS: ("exported", _("Prepare the access export first.")),
        PrivacyRequest.Type.PORTABILITY: ("exported", _("Prepare the export first.")),
        PrivacyRequest.Type.ERASURE: ("receipt", _("Erase the lead to complete this request.")),
        PrivacyRequest.Type.RESTRICTION: ("restricted_at", _("Restrict processing first.")),
        PrivacyRequest.Type.OBJECTION: ("objection_applied", _("Apply the objection first.")),
    }
    need = needs.get(PrivacyRequest.Type(request.type))
    if need is not None and need[0] not in outcome:
        raise ValidationError({"request": [need[1]]})


@transaction.atomic
def privacy_request_complete(
    *,
    workspace: Workspace,
    actor: Actor,
    request: PrivacyRequest,
    evidence: str | None = None,
    rectified_fields: Iterable[str] | None = None,
) -> PrivacyRequest:
    """Close a request as answered. A rectification names the corrected fields (names only;
    the edit itself went through the lead page, which audited the change)."""
    require_manage(actor)
    ensure_open(request)
    note = clean_text(evidence, field="evidence", max_length=EVIDENCE_MAX)
    now = timezone.now()
    with workspace_scope(workspace):
        outcome = dict(request.outcome or {})
        if request.type == PrivacyRequest.Type.RECTIFICATION:
            outcome["rectified_fields"] = _clean_rectified(workspace, rectified_fields)
        request.outcome = outcome
        _completion_check(request)
        start_handling(request, member_id=member_id_of(actor))
        request.status = PrivacyRequest.Status.COMPLETED
        request.completed_at = now
        if note:
            request.evidence = note
        request.save(update_fields=[*PROGRESS_FIELDS, "completed_at", "evidence"])
        audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_COMPLETED,
            request=request,
            status=request.status,
            late=is_late(request, now),
            fields=outcome.get("rectified_fields", []),
        )
    return request


@transaction.atomic
def privacy_request_reject(
    *, workspace: Workspace, actor: Actor, request: PrivacyRequest, evidence: str
) -> PrivacyRequest:
    """Close a request without acting on it (identity not verified, a legal duty to keep
    the data, …). The reason is required and kept as evidence."""
    require_manage(actor)
    ensure_open(request)
    note = clean_text(evidence, field="evidence", max_length=EVIDENCE_MAX, required=True)
    now = timezone.now()
    with workspace_scope(workspace):
        start_handling(request, member_id=member_id_of(actor))
        request.status = PrivacyRequest.Status.REJECTED
        request.completed_at = now
        request.evidence = note
        request.save(update_fields=[*PROGRESS_FIELDS, "completed_at", "evidence"])
        audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_COMPLETED,
            request=request,
            reason="rejected",
            status=request.status,
            late=is_late(request, now),
        )
    return request
