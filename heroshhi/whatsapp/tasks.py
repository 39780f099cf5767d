"""Celery entry points of the webhook inbox; the work is in ``inbox.py``.

A stored delivery wakes its workspace's inbox (``inbox_wake``): at most one wake-up stands
per workspace, so a burst of deliveries queues one task, not one each. The task removes
the wake-up before it claims anything, so a delivery stored while the wake-up stood is
claimed by that task, and one stored after it was removed queues the next. A sweep
re-queues, one by one, whatever no task finished; the database, not the broker, is the
source of truth.

Even that one wake-up costs a Redis round trip per delivery, a tenth of an
acknowledgement's CPU, so each web process asks at most once per workspace per
``WEBHOOK_WAKE_INTERVAL_MS`` (``inbox_wake_soon``): a delivery stored in between is covered
by a single wake at the end of the interval, which comes after its commit, as the rule
above needs (docs/adr/0019).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from celery import shared_task
from django.conf import settings
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


# This process's wake-ups: when each workspace was last woken (monotonic clock), and when
# the pending ones are due. One thread per process sends the pending ones, so they reuse
# its cache connection.
_wakes = threading.Condition()
_woken_at: dict[uuid.UUID, float] = {}
_due: dict[uuid.UUID, float] = {}
_waker: threading.Thread | None = None
# Past this many remembered workspaces, those woken longer than an interval ago are dropped.
_WOKEN_KEEP = 4096


def inbox_wake_soon(workspace_id: uuid.UUID) -> None:
    """``inbox_wake`` now if this process has not woken the workspace within the interval,
    otherwise once at its end (one pending wake per workspace)."""
    global _waker
    interval = settings.WEBHOOK_WAKE_INTERVAL_MS / 1000
    if interval <= 0:
        inbox_wake(workspace_id)
        return
    now = time.monotonic()
    with _wakes:
        last = _woken_at.get(workspace_id)
        if last is not None and now - last < interval:
            if workspace_id not in _due:
                _due[workspace_id] = last + interval
                # A forked web process inherits the object of a thread it does not have.
                if _waker is None or not _waker.is_alive():
                    _waker = threading.Thread(target=_send_pending, name="inbox-waker")
                    _waker.daemon = True  # an exiting process leaves its deliveries to the sweep
                    _waker.start()
                _wakes.notify()
            return
        _woken_at[workspace_id] = now
        if len(_woken_at) > _WOKEN_KEEP:
            for stale in [ws for ws, at in _woken_at.items() if now - at >= interval]:
                del _woken_at[stale]
    inbox_wake(workspace_id)


def _send_pending() -> None:
    while True:
        with _wakes:
            while not _due:
                _wakes.wait()
            now = time.monotonic()
            ready = [workspace for workspace, at in _due.items() if at <= now]
            if not ready:
                _wakes.wait(min(_due.values()) - now)
                continue
            for workspace in ready:
                del _due[workspace]
                _woken_at[workspace] = now
        for workspace in ready:
            try:
                inbox_wake(workspace)
            except Exception:
                logger.exception("could not wake a webhook inbox; the sweeper will")


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
