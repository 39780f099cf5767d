"""Periodic lead jobs (scheduled in CELERY_BEAT_SCHEDULE) and the CSV import's run."""

from __future__ import annotations

import logging

from celery import shared_task

from heroshhi.leads.services import imports, purge, reminders, speed_to_lead

logger = logging.getLogger(__name__)


@shared_task
def leads_purge_trashed() -> dict[str, int]:
    """Hard-delete leads 30 days after they went to the trash; safe to run twice."""
    deleted = purge.leads_purge_trashed()
    logger.info("lead trash purge finished", extra={"deleted": deleted})
    return {"deleted": deleted}


@shared_task
def task_reminders_send() -> dict[str, int]:
    """Remind assignees of follow-ups that fell due; each task is claimed once, so
    overlapping runs and extra workers never remind twice."""
    sent = reminders.task_reminders_send()
    logger.info("task reminders sent", extra={"sent": sent})
    return {"sent": sent}


@shared_task
def speed_to_lead_alerts() -> dict[str, int]:
    """Tell owners about new leads nobody has touched for 15 minutes, and managers and
    owners at 60; each alert is claimed once per lead, so reruns never notify twice."""
    counts = speed_to_lead.speed_to_lead_alerts()
    logger.info("speed-to-lead alerts sent", extra=counts)
    return counts


@shared_task
def lead_import_run(import_id: str) -> str:
    """Run one mapped CSV import. Claimed with a conditional UPDATE (mapped → running),
    so a repeated delivery or a second worker imports nothing twice."""
    outcome = imports.lead_import_run(import_id)
    logger.info("lead import task", extra={"import_id": import_id, "outcome": outcome})
    return outcome


@shared_task
def lead_imports_sweep() -> dict[str, int]:
    """Re-queue imports stuck before their run and fail runs that stopped moving."""
    counts = imports.lead_imports_sweep()
    logger.info("lead import sweep", extra=counts)
    return counts
