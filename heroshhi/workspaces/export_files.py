"""Workspace export files on disk: where they live, how they are written and read
(encrypted with the workspace's data key, owner-readable only), and their clean-up."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.utils import timezone

from heroshhi.core.crypto.files import decrypted_chunks
from heroshhi.workspaces.models import Workspace, WorkspaceExport

EXPORT_TTL = timedelta(hours=24)
# A queued export whose task never arrived is re-queued; a run that stopped saving
# progress (a killed worker) is failed, so nothing shows "preparing" for ever.
QUEUED_STALE_AFTER = timedelta(minutes=5)
RUNNING_STALE_AFTER = timedelta(minutes=30)


def workspace_exports_dir(workspace: Workspace | uuid.UUID) -> Path:
    workspace_id = workspace if isinstance(workspace, uuid.UUID) else workspace.pk
    return Path(settings.VAR_DIR) / "exports" / str(workspace_id)


def export_path(export: WorkspaceExport) -> Path:
    """Derived from the ids only, so no stored value can point a download elsewhere."""
    return workspace_exports_dir(export.workspace_id) / f"{export.pk}.zip"


def partial_path(export: WorkspaceExport) -> Path:
    return export_path(export).with_suffix(".zip.part")


def open_private(path: Path) -> BinaryIO:
    """A new file only its owner can read (0600) in a folder only its owner can enter."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a leftover of an interrupted run
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(descriptor, "wb")


def file_label(export: WorkspaceExport) -> str:
    return f"workspace_export:{export.pk}"


def export_chunks(export: WorkspaceExport) -> Iterator[bytes]:
    """The zip, decrypted as it is read (the file on disk is encrypted with the workspace's
    data key, chunk by chunk)."""
    with export_path(export).open("rb") as raw:
        yield from decrypted_chunks(raw, workspace_id=export.workspace_id, label=file_label(export))


def remove_files(export: WorkspaceExport) -> None:
    export_path(export).unlink(missing_ok=True)
    partial_path(export).unlink(missing_ok=True)


# --- Housekeeping (beat) ----------------------------------------------------------------------


def workspace_exports_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Delete expired export files and fail runs that stopped saving progress.

    A platform job, hence the reviewed ``unscoped()`` reads; each change is one row's.
    """
    now = now or timezone.now()
    exports = WorkspaceExport.objects.unscoped()
    expired = list(exports.filter(status=WorkspaceExport.Status.READY, expires_at__lte=now))
    for export in expired:
        remove_files(export)
        exports.filter(pk=export.pk, status=WorkspaceExport.Status.READY).update(
            status=WorkspaceExport.Status.EXPIRED
        )
    stalled = list(
        exports.filter(
            status=WorkspaceExport.Status.RUNNING, progress_at__lt=now - RUNNING_STALE_AFTER
        )
    )
    for export in stalled:
        remove_files(export)
        exports.filter(pk=export.pk, status=WorkspaceExport.Status.RUNNING).update(
            status=WorkspaceExport.Status.FAILED, finished_at=now
        )
    return {"expired": len(expired), "failed": len(stalled)}


def lost_export_ids(*, now: datetime | None = None) -> list[uuid.UUID]:
    """Queued exports whose task never arrived, for the purge task to queue again (a
    platform read, like the purge)."""
    now = now or timezone.now()
    return list(
        WorkspaceExport.objects.unscoped()
        .filter(status=WorkspaceExport.Status.QUEUED, created_at__lt=now - QUEUED_STALE_AFTER)
        .values_list("pk", flat=True)
    )
