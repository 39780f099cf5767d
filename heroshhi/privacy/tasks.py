"""Periodic privacy jobs (scheduled in CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import logging

from celery import shared_task

from heroshhi.privacy.models import RetentionRun
from heroshhi.privacy.retention.runs import RetentionLocked, retention_run
from heroshhi.privacy.services.reminders import privacy_reminders_send

logger = logging.getLogger(__name__)


@shared_task
def privacy_requests_remind() -> dict[str, int]:
    """Remind owners of privacy requests due within a business day or overdue. Each
    reminder is made once (a unique constraint), so running it often only catches changes
    sooner."""
    made = privacy_reminders_send()
    logger.info("privacy request reminders", extra={"made": made})
    return {"made": made}


@shared_task
def retention_run_daily() -> dict[str, object]:
    """The daily retention run (beat). A run still working elsewhere wins; this one skips."""
    try:
        run = retention_run(trigger=RetentionRun.Trigger.SCHEDULE)
    except RetentionLocked:
        logger.info("retention run skipped: another run holds the lock")
        return {"skipped": "locked"}
    summary = {"run": str(run.pk), "status": run.status, "errors": len(run.errors)}
    logger.info("retention run finished", extra=summary)
    return summary
