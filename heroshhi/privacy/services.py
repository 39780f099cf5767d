"""Every write of the privacy engine: requests and their deadlines, the rights' actions
(access export, erasure, restriction, objection, rectification), holidays and reminders.

Each service checks ``PRIVACY_REQUESTS_MANAGE`` (owners and managers), does its work and
its audit event in one transaction. Audit metadata and request outcomes hold ids, type
names and counts only, never a value about the person.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.apps import apps
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.crypto import EMAIL, PHONE, blind_index
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.models import CustomField, Lead
from heroshhi.leads.selectors import viewer_for
from heroshhi.messaging import optout
from heroshhi.privacy import report as reports
from heroshhi.privacy.business_days import (
    SlaState,
    due_at_for,
    sla_state,
    workspace_timezone,
)
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import (
    LeadRestriction,
    PrivacyReminder,
    PrivacyRequest,
    WorkspaceHoliday,
)
from heroshhi.privacy.selectors import erasure_of_subject, holiday_dates
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.services import webhook_deliveries_forget_contact
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, Role, require_capability

EVIDENCE_MAX = 5000
MESSAGE_MAX = 2000
HOLIDAY_NAME_MAX = 80
EXPORT_FORMATS = ("json", "zip")
EXPORT_LINK_MAX_AGE = 15 * 60  # seconds
_LINK_SALT = "heroshhi.privacy.export-link"
# Staff record requests that reached them by these routes; the public form has its own.
STAFF_CHANNELS = (
    PrivacyRequest.Channel.DASHBOARD,
    PrivacyRequest.Channel.EMAIL,
    PrivacyRequest.Channel.API,
)
# Holidays are the owner's setting, like retention: they move every future deadline.
SETTINGS_CAPABILITY = Capability.RETENTION_MANAGE
# Lead fields a rectification can name (custom fields are "custom:<key>").
RECTIFIABLE_FIELDS = frozenset(
    {"name", "phone", "email", "description", "source_details", "stage", "owner", "tags"}
    | {"deal_value"}
)
# Models with a foreign key to Lead whose rows an erasure keeps: the request itself stays,
# unlinked, as the record that the right was honoured.
_KEPT_ON_ERASURE = frozenset({"privacy.PrivacyRequest"})


# Helpers ----------------------------------------------------------------------------------


def _role(actor: Actor) -> str:
    if not actor.role:
        raise PermissionDenied("privacy.no_role")
    return actor.role


def _require_manage(actor: Actor) -> None:
    require_capability(_role(actor), Capability.PRIVACY_REQUESTS_MANAGE)


def _member_id(actor: Actor) -> uuid.UUID | None:
    return viewer_for(actor=actor).member_id


def _clean_text(value: object, *, field: str, max_length: int, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationError({field: [_("This field is required.")]})
    if len(text) > max_length:
        raise ValidationError({field: [_("Keep it under %(n)s characters.") % {"n": max_length}]})
    return text


def _clean_choice(value: object, *, field: str, choices: Iterable[str], message: str) -> str:
    if not isinstance(value, str) or value not in set(choices):
        raise ValidationError({field: [message]})
    return value


def _clean_scope(request_type: str, scope: object) -> str:
    if request_type != PrivacyRequest.Type.OBJECTION:
        if scope:
            raise ValidationError({"scope": [_("Only an objection has a scope.")]})
        return ""
    return _clean_choice(
        scope,
        field="scope",
        choices=PrivacyRequest.Scope.values,
        message=_("Say what the person objects to: marketing or analytics."),
    )


def _audit_request(
    *,
    workspace: Workspace,
    actor: Actor,
    action: AuditAction,
    request: PrivacyRequest,
    reason: str = "",
    **metadata: object,
) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        action=action,
        target=("privacy_request", request.pk),
        reason=reason,
        metadata={"type": request.type, "subject": request.subject_ref, **metadata},
    )


def _ensure_open(request: PrivacyRequest) -> None:
    if request.is_closed:
        raise PrivacyActionRefused(
            PrivacyActionRefused.REQUEST_CLOSED,
            _("This request is already %(status)s.") % {"status": request.get_status_display()},
        )


def _ensure_about(request: PrivacyRequest | None, lead: Lead, *types: str) -> None:
    """A request passed to an action must be about this lead and of a matching type."""
    if request is None:
        return
    if request.lead_id != lead.pk:
        raise ValidationError({"lead": [_("This request is about another lead.")]})
    if request.type not in types:
        raise ValidationError({"type": [_("This action does not answer a request of this type.")]})
    _ensure_open(request)


def _start(request: PrivacyRequest | None, *, member_id: uuid.UUID | None) -> None:
    """First action on a request: it is in progress, handled by whoever acted."""
    if request is None:
        return
    if request.status == PrivacyRequest.Status.OPEN:
        request.status = PrivacyRequest.Status.IN_PROGRESS
    if request.handler_id is None and member_id is not None:
        request.handler_id = member_id


# What an action on a request writes; never the download nonce, which has its own updates.
_PROGRESS_FIELDS = ["status", "handler", "outcome"]


def _late(request: PrivacyRequest, now: datetime) -> bool:
    return now > request.due_at


def _due_at(workspace: Workspace, received_at: datetime) -> datetime:
    return due_at_for(
        received_at, holidays=holiday_dates(workspace=workspace), tz=workspace_timezone(workspace)
    )


def _new_request(
    *,
    workspace: Workspace,
    request_type: str,
    scope: str,
    lead: Lead | None,
    channel: str,
    created_by: uuid.UUID | None,
    received_at: datetime,
    **requester: Any,
) -> PrivacyRequest:
    """Insert with a fresh reference; a clash of the random reference simply retries."""
    for _attempt in range(5):
        request = PrivacyRequest(
            workspace=workspace,
            type=request_type,
            scope=scope,
            lead=lead,
            subject_ref=str(lead.pk) if lead is not None else "",
            channel=channel,
            received_at=received_at,
            due_at=_due_at(workspace, received_at),
            created_by_id=created_by,
            **requester,
        )
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:
            continue
        return request
    raise RuntimeError("could not allocate a privacy request reference")


# Holidays ---------------------------------------------------------------------------------


@transaction.atomic
def holiday_add(*, workspace: Workspace, actor: Actor, day: date, name: str) -> WorkspaceHoliday:
    require_capability(_role(actor), SETTINGS_CAPABILITY)
    label = _clean_text(name, field="name", max_length=HOLIDAY_NAME_MAX, required=True)
    if not isinstance(day, date):
        raise ValidationError({"date": [_("Enter a valid date.")]})
    with workspace_scope(workspace):
        if WorkspaceHoliday.objects.filter(date=day).exists():
            raise ValidationError({"date": [_("This day is already a holiday.")]})
        holiday = WorkspaceHoliday.objects.create(workspace=workspace, date=day, name=label)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_SETTINGS_UPDATED,
            target=("workspace_holiday", holiday.pk),
            reason="holiday_added",
            metadata={"date": day.isoformat()},
        )
    return holiday


@transaction.atomic
def holiday_remove(*, workspace: Workspace, actor: Actor, holiday: WorkspaceHoliday) -> None:
    require_capability(_role(actor), SETTINGS_CAPABILITY)
    with workspace_scope(workspace):
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_SETTINGS_UPDATED,
            target=("workspace_holiday", holiday.pk),
            reason="holiday_removed",
            metadata={"date": holiday.date.isoformat()},
        )
        holiday.delete()


# Requests ---------------------------------------------------------------------------------


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

    Due 2 business days after ``received_at`` (default: now); see business_days.py."""
    _require_manage(actor)
    request_type = _clean_choice(
        type,
        field="type",
        choices=PrivacyRequest.Type.values,
        message=_("Choose access, portability, rectification, erasure, restriction or objection."),
    )
    clean_scope = _clean_scope(request_type, scope)
    clean_channel = _clean_choice(
        channel,
        field="channel",
        choices=STAFF_CHANNELS,
        message=_("Choose dashboard, email or api."),
    )
    note = _clean_text(evidence, field="evidence", max_length=EVIDENCE_MAX)
    if lead is None or lead.workspace_id != workspace.pk:
        raise ValidationError({"lead": [_("Choose the lead the request is about.")]})
    received = received_at or timezone.now()
    if timezone.is_naive(received):
        raise ValidationError({"received_at": [_("Give the time with its time zone.")]})
    with workspace_scope(workspace):
        request = _new_request(
            workspace=workspace,
            request_type=request_type,
            scope=clean_scope,
            lead=lead,
            channel=clean_channel,
            created_by=_member_id(actor),
            received_at=received,
            evidence=note or None,
        )
        _audit_request(
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
    request_type = _clean_choice(
        type,
        field="type",
        choices=PrivacyRequest.Type.values,
        message=_("Choose what you are asking for."),
    )
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    checks = {
        "name": lambda: _clean_text(
            name, field="name", max_length=validation.NAME_MAX, required=True
        ),
        "email": lambda: validation.clean_email(email),
        "phone": lambda: validation.clean_phone(phone),
        "message": lambda: _clean_text(message, field="message", max_length=MESSAGE_MAX),
        "scope": lambda: _clean_scope(request_type, scope),
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
        request = _new_request(
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
        _audit_request(
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
    _require_manage(actor)
    _ensure_open(request)
    if lead.workspace_id != workspace.pk:
        raise Http404
    if request.lead_id is not None:
        raise ValidationError({"lead": [_("This request is already linked to a lead.")]})
    with workspace_scope(workspace):
        request.lead = lead
        request.subject_ref = str(lead.pk)
        _start(request, member_id=_member_id(actor))
        request.save(update_fields=["lead", "subject_ref", *_PROGRESS_FIELDS])
        _audit_request(
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
    _require_manage(actor)
    _ensure_open(request)
    note = _clean_text(evidence, field="evidence", max_length=EVIDENCE_MAX)
    now = timezone.now()
    with workspace_scope(workspace):
        outcome = dict(request.outcome or {})
        if request.type == PrivacyRequest.Type.RECTIFICATION:
            outcome["rectified_fields"] = _clean_rectified(workspace, rectified_fields)
        request.outcome = outcome
        _completion_check(request)
        _start(request, member_id=_member_id(actor))
        request.status = PrivacyRequest.Status.COMPLETED
        request.completed_at = now
        if note:
            request.evidence = note
        request.save(update_fields=[*_PROGRESS_FIELDS, "completed_at", "evidence"])
        _audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_COMPLETED,
            request=request,
            status=request.status,
            late=_late(request, now),
            fields=outcome.get("rectified_fields", []),
        )
    return request


@transaction.atomic
def privacy_request_reject(
    *, workspace: Workspace, actor: Actor, request: PrivacyRequest, evidence: str
) -> PrivacyRequest:
    """Close a request without acting on it (identity not verified, a legal duty to keep
    the data, …). The reason is required and kept as evidence."""
    _require_manage(actor)
    _ensure_open(request)
    note = _clean_text(evidence, field="evidence", max_length=EVIDENCE_MAX, required=True)
    now = timezone.now()
    with workspace_scope(workspace):
        _start(request, member_id=_member_id(actor))
        request.status = PrivacyRequest.Status.REJECTED
        request.completed_at = now
        request.evidence = note
        request.save(update_fields=[*_PROGRESS_FIELDS, "completed_at", "evidence"])
        _audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_COMPLETED,
            request=request,
            reason="rejected",
            status=request.status,
            late=_late(request, now),
        )
    return request


# Access and portability ---------------------------------------------------------------------


@transaction.atomic
def lead_access_export(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    format: str,
    request: PrivacyRequest | None = None,
) -> reports.Report:
    """Everything held about the lead's person. ``format`` ("html", "json", "zip") is how it
    will be shown; the page is a sensitive read, a file a data export (both audited)."""
    _require_manage(actor)
    if format not in ("html", *EXPORT_FORMATS):
        raise ValidationError({"format": [_("Choose html, json or zip.")]})
    _ensure_about(request, lead, PrivacyRequest.Type.ACCESS, PrivacyRequest.Type.PORTABILITY)
    report = reports.subject_report(workspace=workspace, lead=lead)
    counts = reports.report_counts(report)
    with workspace_scope(workspace):
        if request is not None:
            _start(request, member_id=_member_id(actor))
            request.outcome = {
                **(request.outcome or {}),
                "exported": {"format": format, "counts": counts, "at": timezone.now().isoformat()},
            }
            request.save(update_fields=_PROGRESS_FIELDS)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.SENSITIVE_READ if format == "html" else AuditAction.DATA_EXPORT,
            target=("lead", lead.pk),
            reason="subject_access",
            metadata={
                "entity": "lead_subject",
                "format": format,
                "counts": counts,
                "request": str(request.pk) if request else None,
            },
        )
    return report


def export_link_create(
    *, workspace: Workspace, actor: Actor, request: PrivacyRequest, format: str
) -> str:
    """A signed token for one download of the request's export, valid 15 minutes and once.

    The token holds the request id, a random nonce and the format: no personal data. A new
    link replaces the previous one."""
    _require_manage(actor)
    if format not in EXPORT_FORMATS:
        raise ValidationError({"format": [_("Choose json or zip.")]})
    lead = request.lead
    if lead is None:
        raise ValidationError({"lead": [_("This request is not linked to a lead.")]})
    _ensure_about(request, lead, PrivacyRequest.Type.ACCESS, PrivacyRequest.Type.PORTABILITY)
    nonce = secrets.token_hex(16)
    with transaction.atomic(), workspace_scope(workspace):
        PrivacyRequest.objects.filter(pk=request.pk).update(download_nonce=nonce)
    request.download_nonce = nonce
    signer = signing.TimestampSigner(salt=_LINK_SALT)
    return signer.sign_object({"r": str(request.pk), "n": nonce, "f": format})


def export_link_redeem(
    *, workspace: Workspace, actor: Actor, request: PrivacyRequest, token: str
) -> str:
    """The format the link was made for; the link is used up. Tampered, expired, used or
    replaced links raise PrivacyActionRefused with a code saying which."""
    _require_manage(actor)
    signer = signing.TimestampSigner(salt=_LINK_SALT)
    try:
        data = signer.unsign_object(token, max_age=EXPORT_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_EXPIRED,
            _("This download link has expired (links last 15 minutes). Prepare a new one."),
        ) from None
    except (signing.BadSignature, ValueError):
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_INVALID, _("This download link is not valid.")
        ) from None
    if not isinstance(data, dict) or data.get("r") != str(request.pk) or not data.get("n"):
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_INVALID, _("This download link is not valid.")
        )
    fmt = data.get("f")
    if fmt not in EXPORT_FORMATS:
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_INVALID, _("This download link is not valid.")
        )
    with transaction.atomic(), workspace_scope(workspace):
        used = (
            PrivacyRequest.objects.filter(pk=request.pk, download_nonce=data["n"])
            .exclude(download_nonce="")
            .update(download_nonce="")
        )
    if used != 1:
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_USED,
            _("This download link was already used or replaced by a newer one."),
        )
    request.download_nonce = ""
    return str(fmt)


# Erasure ----------------------------------------------------------------------------------


def _lead_foreign_keys() -> list[tuple[type[models.Model], models.ForeignKey[Any, Any]]]:
    """Every (model, field) in the project with a foreign key to Lead, through tables of
    many-to-many fields included: the list erasure must clear, kept current by the app
    registry rather than by hand."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if isinstance(field, models.ForeignKey) and field.related_model is Lead:
                found.append((model, field))
    return found


def _count_by_table(rows: dict[str, int]) -> dict[str, int]:
    return {label: count for label, count in sorted(rows.items()) if count}


def _receipt_lines(counts: dict[str, int]) -> list[dict[str, object]]:
    lines = []
    for label, count in counts.items():
        model = apps.get_model(label)
        lines.append({"table": label, "what": str(model._meta.verbose_name_plural), "count": count})
    return lines


@transaction.atomic
def lead_erase(
    *,
    workspace: Workspace,
    actor: Actor,
    lead_id: object,
    request: PrivacyRequest | None = None,
) -> dict[str, Any]:
    """Hard-delete the lead and every row about them at once; returns the receipt.

    Kept on purpose: the opt-out ledger (keyed by blind index, so a re-created number stays
    opted out), the audit log (ids only) and the request itself, unlinked, with the receipt
    and without what the requester typed. With no ``request``, the oldest open erasure
    request about the lead is answered, or else one is recorded and completed here, so
    every erasure has its receipt on file.

    A lead that was already erased raises PrivacyActionRefused(already_erased); an unknown
    id raises Http404.
    """
    _require_manage(actor)
    with workspace_scope(workspace):
        try:
            pk = uuid.UUID(str(lead_id))
            lead = Lead.objects.select_for_update().get(pk=pk)
        except (ValueError, Lead.DoesNotExist):
            if erasure_of_subject(workspace=workspace, subject_ref=lead_id) is not None:
                raise PrivacyActionRefused(
                    PrivacyActionRefused.ALREADY_ERASED,
                    _("This lead was already erased; its receipt is on the erasure request."),
                ) from None
            raise Http404 from None
        if request is None:
            # An erasure request already on file for this lead is the one being answered.
            request = (
                PrivacyRequest.objects.filter(
                    lead_id=lead.pk,
                    type=PrivacyRequest.Type.ERASURE,
                    status__in=(PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS),
                )
                .order_by("received_at")
                .first()
            )
        _ensure_about(request, lead, PrivacyRequest.Type.ERASURE)
        member_id = _member_id(actor)
        now = timezone.now()
        if request is None:
            channel = (
                PrivacyRequest.Channel.API
                if actor.type == ActorType.API_KEY
                else PrivacyRequest.Channel.DASHBOARD
            )
            request = _new_request(
                workspace=workspace,
                request_type=PrivacyRequest.Type.ERASURE,
                scope="",
                lead=lead,
                channel=channel,
                created_by=member_id,
                received_at=now,
            )
            _audit_request(
                workspace=workspace,
                actor=actor,
                action=AuditAction.PRIVACY_REQUEST_CREATED,
                request=request,
                channel=request.channel,
            )
        kept_ledger = len(optout.ledger_for_lead(workspace=workspace, lead=lead))
        deleted: dict[str, int] = {}
        # The raw webhook bodies that named them, kept a few days for investigations.
        bodies = webhook_deliveries_forget_contact(
            workspace=workspace, keys=optout.lead_keys(workspace=workspace, lead=lead)
        )
        if bodies:
            deleted[WebhookDelivery._meta.label] = bodies
        # Rows that would outlive the lead (SET_NULL, PROTECT, …) are removed first; the
        # rest goes with the lead through its CASCADE foreign keys.
        for model, field in _lead_foreign_keys():
            if model._meta.label in _KEPT_ON_ERASURE:
                continue
            if field.remote_field.on_delete is not models.CASCADE:
                _total, per_model = model._base_manager.filter(**{field.attname: lead.pk}).delete()
                for label, count in per_model.items():
                    deleted[label] = deleted.get(label, 0) + count
        # What the requester typed names the person too.
        linked = list(PrivacyRequest.objects.filter(lead_id=lead.pk))
        for linked_request in linked:
            _wipe_requester(linked_request)
        _total, per_model = lead.delete()
        for label, count in per_model.items():
            deleted[label] = deleted.get(label, 0) + count
        counts = _count_by_table(deleted)
        receipt: dict[str, Any] = {
            "request": str(request.pk),
            "reference": request.reference,
            "subject": str(pk),
            "erased_at": now.isoformat(),
            "deleted": _receipt_lines(counts),
            "total_deleted": sum(counts.values()),
            "kept": {"opt_out_records": kept_ledger, "privacy_requests": len(linked)},
        }
        request.refresh_from_db()
        _start(request, member_id=member_id)
        request.status = PrivacyRequest.Status.COMPLETED
        request.completed_at = now
        request.outcome = {**(request.outcome or {}), "receipt": receipt}
        request.save(update_fields=[*_PROGRESS_FIELDS, "completed_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.DATA_DELETE,
            target=("lead", pk),
            reason="erasure",
            metadata={
                "entity": "lead",
                "request": str(request.pk),
                "deleted": counts,
                "kept_opt_out_records": kept_ledger,
            },
        )
        _audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_COMPLETED,
            request=request,
            status=request.status,
            late=_late(request, now),
            total_deleted=receipt["total_deleted"],
        )
    return receipt


def _wipe_requester(request: PrivacyRequest) -> None:
    request.requester_name = None
    request.requester_email = None
    request.requester_phone = None
    request.requester_message = None
    request.requester_email_bidx = None
    request.requester_phone_bidx = None
    request.save(
        update_fields=[
            "requester_name",
            "requester_email",
            "requester_phone",
            "requester_message",
            "requester_email_bidx",
            "requester_phone_bidx",
        ]
    )


# Restriction and objection ------------------------------------------------------------------


def _restriction_row(workspace: Workspace, lead: Lead) -> LeadRestriction:
    row, _created = LeadRestriction.objects.select_for_update().get_or_create(
        lead=lead, defaults={"workspace": workspace}
    )
    return row


def _lead_audit(
    *, workspace: Workspace, actor: Actor, lead: Lead, reason: str, **meta: object
) -> None:
    lifted = reason == "restriction_lifted"
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.LEAD_RESTRICTION_LIFTED if lifted else AuditAction.LEAD_RESTRICTED,
        target=("lead", lead.pk),
        reason=reason,
        metadata={"fields": ["privacy_restriction"], **meta},
    )


@transaction.atomic
def lead_restrict(
    *, workspace: Workspace, actor: Actor, lead: Lead, request: PrivacyRequest | None = None
) -> LeadRestriction:
    """Stop every use of the lead but keeping it: sends, campaigns, automations, analytics.
    Restricting a restricted lead changes nothing."""
    _require_manage(actor)
    _ensure_about(request, lead, PrivacyRequest.Type.RESTRICTION)
    with workspace_scope(workspace):
        row = _restriction_row(workspace, lead)
        member_id = _member_id(actor)
        if not row.is_restricted:
            row.restricted_at = timezone.now()
            row.restricted_by_id = member_id
            row.lifted_at = None
            row.lifted_by = None
            row.save()
            _lead_audit(
                workspace=workspace,
                actor=actor,
                lead=lead,
                reason="restricted",
                request=str(request.pk) if request else None,
            )
        if request is not None:
            _start(request, member_id=member_id)
            assert row.restricted_at is not None  # set just above or earlier
            request.outcome = {
                **(request.outcome or {}),
                "restricted_at": row.restricted_at.isoformat(),
            }
            request.save(update_fields=_PROGRESS_FIELDS)
    return row


@transaction.atomic
def lead_unrestrict(*, workspace: Workspace, actor: Actor, lead: Lead) -> LeadRestriction | None:
    """Lift the restriction (audited). Lifting an unrestricted lead changes nothing."""
    _require_manage(actor)
    with workspace_scope(workspace):
        row = LeadRestriction.objects.select_for_update().filter(lead=lead).first()
        if row is None or not row.is_restricted:
            return row
        row.lifted_at = timezone.now()
        row.lifted_by_id = _member_id(actor)
        row.save()
        _lead_audit(workspace=workspace, actor=actor, lead=lead, reason="restriction_lifted")
    return row


@transaction.atomic
def lead_object(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    scope: str,
    request: PrivacyRequest | None = None,
) -> None:
    """An objection: to marketing, the contact is opted out (the ledger keeps it); to
    analytics, the lead is left out of aggregates from now on."""
    _require_manage(actor)
    clean_scope = _clean_scope(PrivacyRequest.Type.OBJECTION, scope)
    _ensure_about(request, lead, PrivacyRequest.Type.OBJECTION)
    if request is not None and request.scope != clean_scope:
        raise ValidationError(
            {"scope": [_("The request objects to %(scope)s.") % {"scope": request.scope}]}
        )
    with workspace_scope(workspace):
        if clean_scope == PrivacyRequest.Scope.MARKETING:
            method = "api" if actor.type == ActorType.API_KEY else "manual"
            optout.lead_opt_out(workspace=workspace, actor=actor, lead=lead, method=method)
        else:
            row = _restriction_row(workspace, lead)
            if not row.analytics_excluded:
                row.analytics_excluded = True
                row.analytics_excluded_at = timezone.now()
                row.save()
                audit_record(
                    workspace=workspace,
                    actor=actor,
                    action=AuditAction.LEAD_RESTRICTED,
                    target=("lead", lead.pk),
                    reason="analytics_excluded",
                    metadata={"fields": ["analytics_excluded"]},
                )
        if request is not None:
            _start(request, member_id=_member_id(actor))
            request.outcome = {**(request.outcome or {}), "objection_applied": clean_scope}
            request.save(update_fields=_PROGRESS_FIELDS)


# Reminders --------------------------------------------------------------------------------

REMINDER_KINDS = {
    SlaState.DUE_SOON: PrivacyReminder.Kind.DUE_SOON,
    SlaState.OVERDUE: PrivacyReminder.Kind.OVERDUE,
}


def privacy_reminders_send(*, now: datetime | None = None) -> int:
    """Remind each workspace's owners of open requests due within a business day or
    overdue; once per request, owner and kind (a unique constraint), so reruns are safe.
    Returns how many reminders were made."""
    now = now or timezone.now()
    # The one cross-workspace read of requests: which workspaces have open ones.
    workspace_ids = set(
        PrivacyRequest.objects.unscoped()
        .filter(status__in=(PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS))
        .values_list("workspace_id", flat=True)
    )
    made = 0
    for workspace in Workspace.objects.filter(pk__in=workspace_ids):
        made += _remind_workspace(workspace=workspace, now=now)
    return made


@transaction.atomic
def _remind_workspace(*, workspace: Workspace, now: datetime) -> int:
    holidays = holiday_dates(workspace=workspace)
    tz = workspace_timezone(workspace)
    with workspace_scope(workspace):
        owners = list(Membership.objects.filter(role=Role.OWNER).values_list("pk", flat=True))
        reminders = []
        for request in PrivacyRequest.objects.filter(
            status__in=(PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS)
        ):
            state = sla_state(now, request.due_at, closed=False, holidays=holidays, tz=tz)
            kind = REMINDER_KINDS.get(state)
            if kind is None:
                continue
            reminders += [
                PrivacyReminder(workspace=workspace, request=request, recipient_id=owner, kind=kind)
                for owner in owners
            ]
        before = PrivacyReminder.objects.count()
        PrivacyReminder.objects.bulk_create(reminders, ignore_conflicts=True)
        return PrivacyReminder.objects.count() - before


def reminders_mark_read(*, workspace: Workspace, actor: Actor) -> int:
    """The caller's own reminders, marked read."""
    with workspace_scope(workspace):
        member_id = _member_id(actor)
        if member_id is None:
            return 0
        return PrivacyReminder.objects.filter(recipient_id=member_id, read_at__isnull=True).update(
            read_at=timezone.now()
        )
