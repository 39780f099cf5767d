"""Handing one recorded outbound message to the provider (called by ``deliver_message``).

The database is the source of truth. A message is delivered while it is ``pending`` with no
provider id; once the provider accepted it we store the wamid and never send it again. The
status stays ``pending`` until the provider's status webhook says ``sent`` (statuses.py
moves it on, matching by wamid or by ``biz_opaque_callback_data`` = our message id, which
covers a webhook that outruns the save here). ``attempts`` counts provider calls.

Every attempt re-checks what can change after the send was accepted: the channel removed,
the lead deleted, the contact opted out or restricted, the workspace suspended or being
terminated. Limits (throughput, pair spacing)
and transient provider errors answer "retry in N seconds"; permanent errors fail the
message with our readable reason. Two tasks for the same message (a sweep racing a retry)
cannot both call the provider: a short lock in the shared cache plus a conditional UPDATE
claim the attempt.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging import optout, ratelimits
from heroshhi.messaging.channels import transport_for, with_details
from heroshhi.messaging.errors import describe
from heroshhi.messaging.models import Channel, Conversation, Message
from heroshhi.messaging.transport import Recipient, TemplateCall, TransportError
from heroshhi.privacy.selectors import is_restricted
from heroshhi.workspaces.models import Workspace

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0
# Longer than one provider call can take (the egress timeout), so the lock outlives it.
LOCK_SECONDS = 60

REASON_CHANNEL_REMOVED = "The WhatsApp number was removed before the message went out."
REASON_LEAD_DELETED = "The lead was deleted before the message went out."
REASON_OPTED_OUT = "The contact opted out before the message went out."
REASON_RESTRICTED = "Processing of the contact's data was restricted before it went out."
REASON_NO_RECIPIENT = "The lead has no phone number to send to."
REASON_WORKSPACE_SUSPENDED = "The workspace was suspended or is being terminated."


@dataclass(frozen=True, slots=True)
class Attempt:
    """What happened: ``accepted``, ``failed``, ``retry`` (after ``retry_in`` seconds) or
    ``skipped`` (nothing to do: gone, already sent or failed, or another worker has it)."""

    outcome: str
    retry_in: float | None = None


def backoff_seconds(attempts: int) -> float:
    """2, 4, 8, 16 … seconds (capped), with ±20 % jitter."""
    base = min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)
    return base * random.uniform(0.8, 1.2)  # noqa: S311 (not crypto)


def _fail(message: Message, *, code: int | None, reason: str) -> Attempt:
    Message.objects.unscoped().filter(pk=message.pk, status=Message.Status.PENDING).update(
        status=Message.Status.FAILED,
        error_code=code,
        error_reason=reason[:200],
        failed_at=timezone.now(),
    )
    logger.info("outbound message failed", extra={"message_id": str(message.pk), "code": code})
    return Attempt("failed")


def _recipient(message: Message, conversation: Conversation) -> Recipient | None:
    if message.lead.phone:
        return Recipient(phone=message.lead.phone)
    if conversation.wa_user_id:
        return Recipient(phone=None, user_id=conversation.wa_user_id)
    return None


def _send(channel: Channel, message: Message, recipient: Recipient) -> str:
    """Hand the recorded message to the channel's transport; the provider's message id."""
    transport = transport_for(channel)
    data: dict[str, Any] = message.payload or {}
    reference = str(message.pk)
    if message.kind == Message.Kind.TEMPLATE:
        template = TemplateCall(
            name=data["template"],
            language=data["language"],
            variables=data.get("variables") or [],
            parameter_names=data.get("parameter_names") or [],
        )
        return transport.send_template(
            channel, to=recipient, template=template, reference=reference
        )
    return transport.send_text(
        channel,
        to=recipient,
        text=message.body or "",
        reference=reference,
        quick_replies=data.get("quick_replies") or (),
    )


def _contact_key(message: Message, conversation: Conversation) -> str:
    return message.lead.phone_bidx or conversation.wa_user_bidx or str(message.lead_id)


def deliver(message_id: str) -> Attempt:
    """One delivery attempt for an outbound message. Safe to call any number of times."""
    found = (
        Message.objects.unscoped()
        .filter(pk=message_id, direction=Message.Direction.OUTBOUND)
        .values_list("workspace_id", flat=True)
        .first()
    )
    if found is None:
        return Attempt("skipped")
    workspace = Workspace.objects.get(pk=found)
    with workspace_scope(workspace):
        return _deliver_in_scope(workspace, message_id)


def _deliver_in_scope(workspace: Workspace, message_id: str) -> Attempt:
    message = (
        Message.objects.select_related(
            "lead", "conversation", *with_details("conversation__channel")
        )
        .filter(pk=message_id)
        .first()
    )
    if (
        message is None
        or message.status != Message.Status.PENDING
        or message.provider_message_id is not None
    ):
        return Attempt("skipped")
    conversation = message.conversation
    channel = conversation.channel
    confirmation = bool((message.payload or {}).get("confirmation"))
    if workspace.status != Workspace.Status.ACTIVE:
        return _fail(message, code=None, reason=REASON_WORKSPACE_SUSPENDED)
    if channel.deleted_at is not None:
        return _fail(message, code=None, reason=REASON_CHANNEL_REMOVED)
    if message.lead.deleted_at is not None and not confirmation:
        return _fail(message, code=None, reason=REASON_LEAD_DELETED)
    # A STOP may have arrived since the send was accepted; only the confirmation of that
    # very STOP may still go out.
    if not confirmation and optout.lead_is_opted_out(workspace=workspace, lead=message.lead):
        return _fail(message, code=None, reason=REASON_OPTED_OUT)
    if is_restricted(workspace=workspace, lead=message.lead):
        return _fail(message, code=None, reason=REASON_RESTRICTED)
    recipient = _recipient(message, conversation)
    if recipient is None:
        return _fail(message, code=None, reason=REASON_NO_RECIPIENT)

    wait = ratelimits.throughput_wait(channel_id=channel.pk, per_second=channel.throughput_tier)
    wait = wait or ratelimits.pair_wait(
        channel_id=channel.pk, contact_key=_contact_key(message, conversation)
    )
    if wait:
        return Attempt("retry", retry_in=wait)

    lock = f"wa:deliver:{message.pk}"
    if not cache.add(lock, 1, timeout=LOCK_SECONDS):
        return Attempt("skipped")
    try:
        claimed = Message.objects.filter(
            pk=message.pk,
            status=Message.Status.PENDING,
            provider_message_id__isnull=True,
            attempts=message.attempts,
        ).update(attempts=F("attempts") + 1)
        if not claimed:
            return Attempt("skipped")
        attempts = message.attempts + 1
        return _call_provider(workspace, message, recipient, attempts)
    finally:
        cache.delete(lock)


def _call_provider(
    workspace: Workspace, message: Message, recipient: Recipient, attempts: int
) -> Attempt:
    try:
        provider_id = _send(message.conversation.channel, message, recipient)
    except TransportError as exc:
        info = describe(exc.code)
        if exc.transient and attempts < MAX_ATTEMPTS:
            wait = max(exc.retry_after or 0.0, backoff_seconds(attempts))
            logger.info(
                "outbound message will be retried",
                extra={"message_id": str(message.pk), "code": exc.code, "attempts": attempts},
            )
            return Attempt("retry", retry_in=wait)
        if exc.code == optout.MARKETING_STOPPED:
            optout.record_marketing_stopped(
                workspace=workspace,
                channel=message.conversation.channel,
                message=message,
                event_key=f"err131050:{message.pk}",
            )
        # Without a code the title is one of our own labels ("timeout", "egress denied").
        reason = info.reason if exc.code is not None else f"{info.reason} ({exc.title})"
        if exc.transient:
            reason = f"Gave up after {attempts} attempts. {reason}"
        return _fail(message, code=exc.code, reason=reason)
    # Only if still unset: a status webhook may have matched the message by our id already.
    Message.objects.filter(pk=message.pk, provider_message_id__isnull=True).update(
        provider_message_id=provider_id
    )
    return Attempt("accepted")
