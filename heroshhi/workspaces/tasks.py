"""Workspace jobs: build a whole-workspace export, and clean up expired ones (beat)."""

from __future__ import annotations

import logging

from celery import shared_task

from heroshhi.workspaces import export_build, export_files

logger = logging.getLogger(__name__)


@shared_task
def workspace_export_run(export_id: str) -> str:
    """Build one queued export. Claimed with a conditional UPDATE (queued → running), so
    a repeated delivery or a second worker builds nothing twice."""
    outcome = export_build.workspace_export_run(export_id)
    logger.info("workspace export task", extra={"export_id": export_id, "outcome": outcome})
    return outcome


@shared_task
def workspace_exports_purge() -> dict[str, int]:
    """Delete export files past their 24 hours; fail stalled runs, re-queue lost ones."""
    counts = export_files.workspace_exports_purge()
    lost = export_files.lost_export_ids()
    for export_id in lost:
        workspace_export_run.delay(str(export_id))
    counts["requeued"] = len(lost)
    logger.info("workspace exports purge", extra=counts)
    return counts
