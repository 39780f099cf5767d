"""What every privacy write shares: who may act, input cleaning, and the steps an action
takes on a request (opening one with its deadline, taking it up, its audit event).

Each service checks ``PRIVACY_REQUESTS_MANAGE`` (owners and managers), does its work and
its audit event in one transaction. Audit metadata and request outcomes hold ids, type
names and counts only, never a value about the person.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.leads.models import Lead
from heroshhi.leads.selectors import viewer_for
from heroshhi.privacy.business_days import due_at_for, workspace_timezone
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.selectors import holiday_dates
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def actor_role(actor: Actor) -> str:
    if not actor.role:
        raise PermissionDenied("privacy.no_role")
    return actor.role


def require_manage(actor: Actor) -> None:
    require_capability(actor_role(actor), Capability.PRIVACY_REQUESTS_MANAGE)


def member_id_of(actor: Actor) -> uuid.UUID | None:
    return viewer_for(actor=actor).member_id


def clean_text(value: object, *, field: str, max_length: int, required: bool = False) -> str:
    text = str(value or "").strip()
    if required and not text:
        raise ValidationError({field: [_("This field is required.")]})
    if len(text) > max_length:
        raise ValidationError({field: [_("Keep it under %(n)s characters.") % {"n": max_length}]})
    return text


def clean_choice(value: object, *, field: str, choices: Iterable[str], message: str) -> str:
    if not isinstance(value, str) or value not in set(choices):
        raise ValidationError({field: [message]})
    return value


def clean_request_scope(request_type: str, scope: object) -> str:
    if request_type != PrivacyRequest.Type.OBJECTION:
        if scope:
            raise ValidationError({"scope": [_("Only an objection has a scope.")]})
        return ""
    return clean_choice(
        scope,
        field="scope",
        choices=PrivacyRequest.Scope.values,
        message=_("Say what the person objects to: marketing or analytics."),
    )


def audit_request(
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


def ensure_open(request: PrivacyRequest) -> None:
    if request.is_closed:
        raise PrivacyActionRefused(
            PrivacyActionRefused.REQUEST_CLOSED,
            _("This request is already %(status)s.") % {"status": request.get_status_display()},
        )


def ensure_about(request: PrivacyRequest | None, lead: Lead, *types: str) -> None:
    """A request passed to an action must be about this lead and of a matching type."""
    if request is None:
        return
    if request.lead_id != lead.pk:
        raise ValidationError({"lead": [_("This request is about another lead.")]})
    if request.type not in types:
        raise ValidationError({"type": [_("This action does not answer a request of this type.")]})
    ensure_open(request)


def start_handling(request: PrivacyRequest | None, *, member_id: uuid.UUID | None) -> None:
    """First action on a request: it is in progress, handled by whoever acted."""
    if request is None:
        return
    if request.status == PrivacyRequest.Status.OPEN:
        request.status = PrivacyRequest.Status.IN_PROGRESS
    if request.handler_id is None and member_id is not None:
        request.handler_id = member_id


# What an action on a request writes; never the download nonce, which has its own updates.
PROGRESS_FIELDS = ["status", "handler", "outcome"]


def is_late(request: PrivacyRequest, now: datetime) -> bool:
    return now > request.due_at


def _due_at(workspace: Workspace, received_at: datetime) -> datetime:
    return due_at_for(
        received_at, holidays=holiday_dates(workspace=workspace), tz=workspace_timezone(workspace)
    )


def new_request(
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
