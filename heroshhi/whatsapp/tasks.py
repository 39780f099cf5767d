"""Celery entry points of the webhook inbox; the work is in ``inbox.py``.

A stored delivery wakes its workspace's inbox (``inbox_wake``): at most one wake-up stands
per workspace, so a burst of deliveries queues one task, not one each. The task removes
the wake-up before it claims anything, so a delivery stored while the wake-up stood is
claimed by that task, and one stored after it was removed queues the next. A sweep
re-queues, one by one, whatever no task finished; the database, not the broker, is the
source of truth.
"""

from __future__ import annotations

import logging
import uuid

from celery import shared_task
from django.core.cache import cache

from heroshhi.whatsapp import inbox

logger = logging.getLogger(__name__)

# How long a wake-up stands: the task it queued removes it on starting, and if that task
# is lost with its worker, wake-ups are held back no longer than this.
WAKE_SECONDS = 5


def inbox_wake(workspace_id: uuid.UUID) -> None:
    """Make sure a task will drain the workspace's inbox; called once a delivery is stored."""
    key = _wake_key(workspace_id)
    if not cache.add(key, 1, timeout=WAKE_SECONDS):
        return
    try:
        process_webhook_inbox.delay(str(workspace_id))
    except Exception:
        cache.delete(key)  # the next delivery tries again; the sweep covers this one
        raise


def _wake_key(workspace_id: uuid.UUID) -> str:
    return f"wa-inbox-wake:{workspace_id}"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def process_webhook_inbox(workspace_id: str) -> int:
    workspace = uuid.UUID(workspace_id)
    cache.delete(_wake_key(workspace))
    drained = inbox.inbox_drain(workspace_id=workspace)
    if drained.unfinished:
        inbox_wake(workspace)
    if drained.crash is not None:
        raise drained.crash
    return drained.processed


@shared_task(acks_late=True, reject_on_worker_lost=True)
def process_webhook_delivery(delivery_id: str) -> None:
    """One delivery by id: the sweep's retry of a delivery a worker did not finish."""
    inbox.delivery_process(delivery_id=delivery_id)


@shared_task
def webhook_deliveries_sweep() -> int:
    """Re-queue RECEIVED deliveries that nobody has touched for ``inbox.REQUEUE_AFTER``."""
    stale = inbox.stale_deliveries_claim()
    for pk in stale:
        process_webhook_delivery.delay(str(pk))
    if stale:
        logger.info("re-queued webhook deliveries", extra={"count": len(stale)})
    return len(stale)


@shared_task
def webhook_deliveries_prune() -> int:
    return inbox.webhook_deliveries_prune()
