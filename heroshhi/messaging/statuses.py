"""Delivery statuses from WhatsApp applied to our outbound messages, and template status news.

Meta delivers statuses at least once and in any order, so a status only ever moves forward:
pending < sent < delivered < read. ``failed`` is terminal and wins only over pending and
sent: a message the contact's phone has received or read did reach them, whatever a late
"failed" says, and nothing moves a failed message back (a retry is a new message). Each
status's own timestamp is kept even when it arrives late (a "delivered" after "read" still
fills ``delivered_at``), so reports see when each step happened.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from enum import StrEnum

from django.db import transaction

from heroshhi.core.bulk import rows_update
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging import errors, optout
from heroshhi.messaging.events import StatusUpdate, TemplateStatusUpdate
from heroshhi.messaging.models import Channel, Message, MessageTemplate
from heroshhi.workspaces.models import Workspace

logger = logging.getLogger(__name__)

_RANK = {
    Message.Status.PENDING: 0,
    Message.Status.SENT: 1,
    Message.Status.DELIVERED: 2,
    Message.Status.READ: 3,
}
_TIMESTAMP_FIELD = {
    Message.Status.SENT: "sent_at",
    Message.Status.DELIVERED: "delivered_at",
    Message.Status.READ: "read_at",
    Message.Status.FAILED: "failed_at",
}


class StatusOutcome(StrEnum):
    APPLIED = "applied"
    # Older than what we know (e.g. "delivered" after "read"): timestamps only.
    STALE = "stale"
    # No outbound message of ours has this wamid or callback id.
    UNKNOWN = "unknown"


def _message_for(item: StatusUpdate) -> Message | None:
    """By wamid; else by the callback data we attach at send time (our message id), for a
    status that overtook the send's own response and so arrives before the wamid is stored."""
    outbound = Message.objects.select_for_update().filter(direction=Message.Direction.OUTBOUND)
    found = outbound.filter(provider_message_id=item.provider_message_id).first()
    if found is not None or not item.callback_data:
        return found
    try:
        own_id = uuid.UUID(item.callback_data)
    except ValueError:
        return None
    found = outbound.filter(pk=own_id).first()
    if found is None or found.provider_message_id not in (None, item.provider_message_id):
        return None
    found.provider_message_id = item.provider_message_id
    return found


def _moves_forward(current: str, new: str) -> bool:
    if current == Message.Status.FAILED:
        return False
    if new == Message.Status.FAILED:
        return current in (Message.Status.PENDING, Message.Status.SENT)
    return _RANK.get(Message.Status(new), -1) > _RANK.get(Message.Status(current), -1)


def _advance(message: Message, item: StatusUpdate) -> tuple[list[str], bool]:
    """Apply the status to the message in memory: (fields changed, moved forward)."""
    changed = []
    stamp = _TIMESTAMP_FIELD[Message.Status(item.status)]
    forward = _moves_forward(message.status, item.status)
    # A late step still gets its time, except on a failed message or for a late failure.
    late_step = message.status != Message.Status.FAILED and item.status != Message.Status.FAILED
    if getattr(message, stamp) is None and (forward or late_step):
        setattr(message, stamp, item.timestamp)
        changed.append(stamp)
    if forward:
        message.status = item.status
        changed.append("status")
        if item.status == Message.Status.FAILED:
            message.error_code = item.error_code
            message.error_reason = errors.reason_for(item.error_code)[:200]
            changed += ["error_code", "error_reason"]
    return changed, forward


def _log_unknown(channel: Channel, item: StatusUpdate) -> None:
    # Ids only: a wamid names no person.
    logger.info(
        "status for an unknown message",
        extra={
            "channel_id": str(channel.pk),
            "wamid": item.provider_message_id,
            "status": item.status,
        },
    )


def status_apply(*, workspace: Workspace, channel: Channel, item: StatusUpdate) -> StatusOutcome:
    """Apply one status webhook item; safe to repeat and to receive out of order."""
    with transaction.atomic(), workspace_scope(workspace):
        message = _message_for(item)
        if message is None:
            _log_unknown(channel, item)
            return StatusOutcome.UNKNOWN
        changed, forward = _advance(message, item)
        message.save(update_fields=["provider_message_id", *changed])
        if forward and item.error_code == optout.MARKETING_STOPPED:
            optout.record_marketing_stopped(
                workspace=workspace,
                channel=channel,
                message=message,
                event_key=f"err:{message.provider_message_id}",
                at=item.timestamp,
            )
    return StatusOutcome.APPLIED if forward else StatusOutcome.STALE


def statuses_apply_many(
    *, workspace: Workspace, updates: Sequence[tuple[Channel, StatusUpdate]]
) -> dict[int, StatusOutcome]:
    """Apply a batch of status items at once: one locking read of the messages they name
    and one UPDATE for all that changed. Inside the caller's transaction and workspace scope.

    Returns the outcome by position in ``updates`` for the items it applied; the rest (a
    status that may stand for an opt-out, or one naming our message only by callback data)
    are left to ``status_apply``, one by one."""
    wanted = {
        n: (channel, item)
        for n, (channel, item) in enumerate(updates)
        if item.error_code != optout.MARKETING_STOPPED
    }
    messages = {
        message.provider_message_id: message
        for message in Message.objects.select_for_update()
        .filter(
            direction=Message.Direction.OUTBOUND,
            provider_message_id__in={
                item.provider_message_id for _channel, item in wanted.values()
            },
        )
        .order_by("pk")
    }
    outcomes: dict[int, StatusOutcome] = {}
    changes: dict[Message, set[str]] = {}
    for n, (channel, item) in wanted.items():
        message = messages.get(item.provider_message_id)
        if message is None:
            if item.callback_data:
                continue  # perhaps ours, sent a moment ago: status_apply looks it up
            _log_unknown(channel, item)
            outcomes[n] = StatusOutcome.UNKNOWN
            continue
        changed, forward = _advance(message, item)
        if changed:
            changes.setdefault(message, set()).update(changed)
        outcomes[n] = StatusOutcome.APPLIED if forward else StatusOutcome.STALE
    # One statement for all; a message is written with the values it has for the fields
    # only others changed (its row is locked).
    rows_update(Message.objects.all(), list(changes), sorted(set().union(*changes.values())))
    return outcomes


def template_status_apply(
    *, workspace: Workspace, channel: Channel, item: TemplateStatusUpdate
) -> int:
    """A template approved, rejected, paused or disabled at Meta; the number of rows updated
    (0 when we have not synced that template yet: the next channel check brings it)."""
    with workspace_scope(workspace):
        templates = MessageTemplate.objects.filter(channel=channel)
        if item.template_id:
            matched = templates.filter(provider_template_id=item.template_id)
        elif item.name and item.language:
            matched = templates.filter(name=item.name, language=item.language)
        else:
            return 0
        return matched.update(status=item.event[:20])
