"""Audit jobs: the sequencer's wake-ups and beat's backstop, and the purge.

A writer's commit wakes its chain's sequencer (``sequencer_wake``): at most one wake-up
stands per chain, so a burst of writes queues one task, not one each. The task removes the
wake-up before it links anything, so an event committed while the wake-up stood is linked by
that task, and one committed after it was removed queues the next (the webhook inbox does
the same, ``heroshhi.whatsapp.tasks``). Beat links whatever a lost wake-up or a killed
sequencer left queued; the database, not the broker, is the source of truth.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from heroshhi.audit import selectors, sequencer, services

logger = logging.getLogger(__name__)

# How long a wake-up stands: the task it queued removes it on starting, and if that task
# is lost with its worker, wake-ups are held back no longer than this.
WAKE_SECONDS = 5


def sequencer_wake(chain: str) -> None:
    """Make sure a task will link the chain's queued events; runs after a writer commits.

    Never raises: the writer's change has committed, and beat links what no task did.
    """
    key = _wake_key(chain)
    try:
        if not cache.add(key, 1, timeout=WAKE_SECONDS):
            return
        try:
            audit_sequence_chain.delay(chain)
        except Exception:
            cache.delete(key)  # the next write tries again
            raise
    except Exception:
        logger.exception("could not wake the audit sequencer; beat will", extra={"chain": chain})


def _wake_key(chain: str) -> str:
    return f"audit-sequencer-wake:{chain}"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def audit_sequence_chain(chain: str) -> int:
    """Link one chain's queued events; the number linked."""
    cache.delete(_wake_key(chain))
    run = sequencer.audit_sequence(chain)
    if run.unfinished:
        sequencer_wake(chain)
    return run.linked


@shared_task
def audit_sequence_backlog() -> int:
    """Beat: link every chain that still has queued events; the number linked."""
    linked = 0
    for chain in selectors.chains_with_queued_events():
        run = sequencer.audit_sequence(chain)
        linked += run.linked
        if run.unfinished:
            sequencer_wake(chain)
    if linked:
        logger.info("audit backlog linked by beat", extra={"linked": linked})
    return linked


@shared_task
def audit_purge_expired() -> dict[str, int]:
    """Drop audit events past retention; safe to run twice or after a crash."""
    report = services.audit_purge_expired()
    summary = {
        "chains": len(report.chains),
        "deleted": report.deleted,
        "failed": len(report.failed),
    }
    logger.info("audit purge finished", extra=summary)
    return summary
