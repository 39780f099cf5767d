"""The backup key: where a backup or a restore gets it."""

from __future__ import annotations

from django.conf import settings

from heroshhi.core.backup.archive import BACKUP_KEY_VARIABLE
from heroshhi.core.backup.errors import BackupError


def configured_backup_key() -> str:
    key: str = getattr(settings, "BACKUP_KEY", "")
    if not key:
        raise BackupError(
            f"{BACKUP_KEY_VARIABLE} (or {BACKUP_KEY_VARIABLE}_FILE) is not set: production "
            "needs it to make or restore a backup. Keep it apart from the archives and from "
            "the master keys."
        )
    return key
