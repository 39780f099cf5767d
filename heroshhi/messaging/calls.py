"""Calls with a lead: logged by staff or the API, and WhatsApp Calling webhooks.

Numbers, notes and recording links are encrypted; the timeline and the audit log carry the
call's id, direction, outcome and duration only.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.instants import past_instant_problem
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.selectors import lead_is_visible, viewer_for
from heroshhi.messaging import inbound
from heroshhi.messaging.events import CallEvent, InboundMessage
from heroshhi.messaging.models import Call, Channel
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

MAX_DURATION_SECONDS = 24 * 60 * 60
RECORDING_URL_MAX = 2000
# How far back a call may be logged by hand or API: calls are logged after the fact, the
# same day or after a few days away. An older start is a typing error, and it would pull the
# lead's activity and timeline back by months.
CALL_MAX_AGE_DAYS = 30
_LOGGABLE_OUTCOMES = frozenset(Call.Outcome.values) - {Call.Outcome.IN_PROGRESS}


def _record(
    *, workspace: Workspace, actor: Actor, call: Call, lead: Lead, audit: bool = True
) -> None:
    facts = {
        "call": str(call.pk),
        "direction": call.direction,
        "outcome": call.outcome,
        "duration_seconds": call.duration_seconds,
        "via": call.via,
    }
    TimelineEvent.objects.create(
        workspace=workspace,
        lead=lead,
        kind=TimelineEvent.Kind.CALL,
        actor_type=actor.type.value,
        actor_id=actor.id or "",
        data=facts,
    )
    if audit:
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.CALL_LOGGED,
            target=("lead", lead.pk),
            metadata=facts,
        )


# Logged by hand or by the API ------------------------------------------------------------


def _clean(
    *,
    direction: str,
    started_at: datetime,
    duration_seconds: int,
    outcome: str,
    notes: str | None,
    recording_url: str | None,
    from_number: str | None,
    to_number: str | None,
) -> dict[str, object]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, object] = {}

    def check(field: str, ok: bool, message: str) -> None:
        if not ok:
            errors.setdefault(field, []).append(message)

    check("direction", direction in Call.Direction.values, _("Choose in or out."))
    check(
        "outcome",
        outcome in _LOGGABLE_OUTCOMES,
        _("Choose connected, no answer, busy, failed or voicemail."),
    )
    if not isinstance(started_at, datetime):
        check("started_at", False, _("Give the start time with a time zone."))
    elif problem := past_instant_problem(started_at, max_age_days=CALL_MAX_AGE_DAYS):
        check("started_at", False, problem)
    check(
        "duration_seconds",
        isinstance(duration_seconds, int) and 0 <= duration_seconds <= MAX_DURATION_SECONDS,
        _("Give a duration between 0 seconds and 24 hours."),
    )
    for field, value in (("notes", notes),):
        try:
            cleaned[field] = validation.clean_note_body(value) if value else None
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)
    if recording_url:
        try:
            if len(recording_url) > RECORDING_URL_MAX:
                raise ValidationError("too long")
            URLValidator(schemes=["https", "http"])(recording_url)
            cleaned["recording_url"] = recording_url
        except ValidationError:
            errors.setdefault("recording_url", []).append(_("Enter a valid web address."))
    else:
        cleaned["recording_url"] = None
    for field, number in (("from_number", from_number), ("to_number", to_number)):
        try:
            cleaned[field] = validation.clean_phone(number)
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def call_log(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    direction: str,
    started_at: datetime,
    duration_seconds: int,
    outcome: str,
    notes: str | None = None,
    recording_url: str | None = None,
    from_number: str | None = None,
    to_number: str | None = None,
) -> Call:
    """A phone call someone had with the lead, logged after the fact."""
    if not actor.role:
        raise PermissionDenied("messaging.no_role")
    require_capability(actor.role, Capability.CALLS_LOG)
    cleaned = _clean(
        direction=direction,
        started_at=started_at,
        duration_seconds=duration_seconds,
        outcome=outcome,
        notes=notes,
        recording_url=recording_url,
        from_number=from_number,
        to_number=to_number,
    )
    with workspace_scope(workspace):
        if lead.deleted_at is not None or not lead_is_visible(
            viewer=viewer_for(actor=actor), lead=lead
        ):
            raise Http404
        call = Call.objects.create(
            workspace=workspace,
            lead=lead,
            via=Call.Via.PHONE,
            direction=direction,
            started_at=started_at,
            duration_seconds=duration_seconds,
            outcome=outcome,
            logged_by_id=actor.id if actor.type == ActorType.USER else None,
            **cleaned,
        )
        lead.last_activity_at = timezone.now()
        lead.save(update_fields=["last_activity_at"])
        _record(workspace=workspace, actor=actor, call=call, lead=lead)
    return call


def calls_for_lead(*, workspace: Workspace, lead: Lead) -> list[Call]:
    """The lead's calls, newest first. The caller has already checked the lead is visible."""
    with workspace_scope(workspace):
        return list(Call.objects.filter(lead=lead).order_by("-started_at", "-created_at"))


# WhatsApp Calling webhooks ----------------------------------------------------------------


def call_event_apply(*, workspace: Workspace, channel: Channel, item: CallEvent) -> bool:
    """A ``connect`` opens an in-progress call, a ``terminate`` completes it; False when this
    event was already applied. A terminate that overtakes its connect creates the finished
    call, and the late connect is then a no-op."""
    with transaction.atomic(), workspace_scope(workspace):
        call = Call.objects.select_for_update().filter(provider_call_id=item.call_id).first()
        if item.event == "connect":
            if call is not None:
                return False
            _call_started(workspace=workspace, channel=channel, item=item)
            return True
        if call is not None and call.outcome != Call.Outcome.IN_PROGRESS:
            return False
        if call is None:
            call = _call_started(workspace=workspace, channel=channel, item=item)
        _call_ended(workspace=workspace, call=call, item=item)
        return True


def _call_started(*, workspace: Workspace, channel: Channel, item: CallEvent) -> Call:
    user_initiated = item.contact_initiated
    # A call from an unknown number becomes a lead just like a first message does.
    as_message = InboundMessage(
        provider_message_id=item.call_id,
        kind="system",
        original_type="call",
        timestamp=item.timestamp,
        contact=item.contact,
        text=None,
        payload={},
        keyword_candidates=(),
        referral=None,
    )
    lead, _created = inbound.lead_for_message(workspace=workspace, item=as_message)
    conversation = inbound.conversation_for(
        workspace=workspace, channel=channel, lead=lead, contact=item.contact
    )
    contact_number = inbound.contact_phone(item.contact)
    business_number = "+" + channel.display_phone_number.lstrip("+")
    call = Call.objects.create(
        workspace=workspace,
        lead=lead,
        channel=channel,
        via=Call.Via.WHATSAPP,
        direction=Call.Direction.INBOUND if user_initiated else Call.Direction.OUTBOUND,
        from_number=contact_number if user_initiated else business_number,
        to_number=business_number if user_initiated else contact_number,
        started_at=item.start_time or item.timestamp,
        outcome=Call.Outcome.IN_PROGRESS,
        provider_call_id=item.call_id,
    )
    if user_initiated:
        # The contact reaching out opens the 24-hour window like a message does.
        inbound.contact_touched(conversation=conversation, at=item.timestamp)
    lead.last_activity_at = timezone.now()
    lead.save(update_fields=["last_activity_at"])
    _record(workspace=workspace, actor=inbound.WHATSAPP_INTAKE, call=call, lead=lead)
    return call


def _call_ended(*, workspace: Workspace, call: Call, item: CallEvent) -> None:
    duration = item.duration_seconds
    if duration is None and item.start_time and item.end_time:
        duration = int((item.end_time - item.start_time).total_seconds())
    call.duration_seconds = min(max(0, duration or 0), MAX_DURATION_SECONDS)
    completed = (item.status or "").upper() == "COMPLETED"
    call.outcome = Call.Outcome.CONNECTED if completed else Call.Outcome.FAILED
    if item.start_time:
        call.started_at = item.start_time
    call.save(update_fields=["duration_seconds", "outcome", "started_at"])
    _record(
        workspace=workspace, actor=inbound.WHATSAPP_INTAKE, call=call, lead=call.lead, audit=False
    )
