"""Outbound message jobs: deliver one message, and re-queue the ones a broker lost."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging import delivery
from heroshhi.messaging.channels import transport_for, with_details
from heroshhi.messaging.models import Message
from heroshhi.messaging.transport import TransportError

logger = logging.getLogger(__name__)

# A pending message without a provider id this old has lost its task (or its retry).
SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 500
# Database hiccups (a lock timeout, a dropped connection) are retried this many times before
# the task gives up and leaves the message to the sweep.
DATABASE_RETRIES = 5


@shared_task(bind=True, max_retries=None)
def deliver_message(self: Task, message_id: str) -> str:
    """Hand one outbound message to WhatsApp; idempotent (see messaging/delivery.py).

    Limits and transient errors re-queue it with a countdown (transient provider errors at
    most ``delivery.MAX_ATTEMPTS`` times, counted on the row). Run eagerly (tests, no
    worker) a retry would run at once and spin, so the message is left pending for
    ``pending_messages_sweep`` instead.
    """
    try:
        attempt = delivery.deliver(message_id)
    except (OperationalError, InterfaceError) as exc:
        if self.request.is_eager or self.request.retries >= DATABASE_RETRIES:
            raise
        raise self.retry(
            countdown=delivery.backoff_seconds(self.request.retries + 1), exc=exc
        ) from exc
    if attempt.retry_in is not None and not self.request.is_eager:
        raise self.retry(countdown=attempt.retry_in)
    return attempt.outcome


@shared_task
def pending_messages_sweep() -> dict[str, int]:
    """Re-queue outbound messages still pending without a provider id after two minutes.

    Safe to overlap with a live retry: delivery claims each attempt, so nothing goes twice.
    """
    cutoff = timezone.now() - SWEEP_AFTER
    # Platform job: every workspace's stuck messages; each task scopes itself.
    stuck = list(
        Message.objects.unscoped()
        .filter(
            direction=Message.Direction.OUTBOUND,
            status=Message.Status.PENDING,
            provider_message_id__isnull=True,
            created_at__lt=cutoff,
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for message_id in stuck:
        deliver_message.delay(str(message_id))
    if stuck:
        logger.info("pending messages re-queued", extra={"requeued": len(stuck)})
    return {"requeued": len(stuck)}


@shared_task
def send_read_receipt(message_id: str) -> bool:
    """Tell WhatsApp the contact's message was read. A courtesy: a failure is logged, never
    retried, and changes nothing on our side."""
    message = (
        Message.objects.unscoped()
        .select_related("workspace", *with_details("conversation__channel"))
        .filter(pk=message_id, direction=Message.Direction.INBOUND)
        .first()
    )
    if message is None or not message.provider_message_id:
        return False
    with workspace_scope(message.workspace):
        channel = message.conversation.channel
        if channel.deleted_at is not None:
            return False
        try:
            transport_for(channel).mark_read(channel, message.provider_message_id)
        except TransportError as exc:
            logger.warning(
                "read receipt not sent",
                extra={"message_id": message_id, "code": exc.code, "transient": exc.transient},
            )
            return False
    return True
