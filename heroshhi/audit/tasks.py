"""Periodic audit jobs (scheduled in CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import logging

from celery import shared_task

from heroshhi.audit import services

logger = logging.getLogger(__name__)


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
