"""Making a backup: the database, the kept files and the manifest, in one sealed archive."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.db import connection
from django.utils import timezone

from heroshhi.core.backup.archive import DATABASE, FILE, FORMAT_VERSION, ArchiveWriter
from heroshhi.core.backup.database import database_for
from heroshhi.core.backup.errors import BackupError
from heroshhi.core.backup.files import KEPT_DIRECTORIES, kept_files
from heroshhi.core.backup.keys import configured_backup_key
from heroshhi.core.backup.manifest import app_version, key_references, migration_heads

ARCHIVE_SUFFIX = ".hxb"
_BLOCK_BYTES = 1 << 20


def _archive_path(destination: Path, created_name: str) -> Path:
    target = destination / created_name if destination.is_dir() else destination
    if target.exists():
        raise BackupError(f"{target} already exists; a backup never overwrites a file.")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder.")
    return target


def backup_create(*, destination: Path) -> dict[str, Any]:
    """Write an archive into ``destination`` (a folder, or the archive's path); returns a
    summary. The archive appears only once complete: it is written beside itself first."""
    backup_key = configured_backup_key()
    database = database_for(connection)
    created_at = timezone.now()
    target = _archive_path(destination, f"heroshhi-{created_at:%Y%m%dT%H%M%SZ}{ARCHIVE_SUFFIX}")
    partial = target.with_name(target.name + ".part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as raw:
            writer = ArchiveWriter(raw, backup_key=backup_key, created_at=created_at)
            with database.consistent_view():
                writer.begin_part(DATABASE, DATABASE)
                database.dump(writer.write)
                writer.end_part()
                references = key_references()
                heads = migration_heads(connection)
            for name, path in kept_files():
                _add_file(writer, name, path)
            manifest = writer.finish(
                {
                    "format": FORMAT_VERSION,
                    "archive_id": writer.header.archive_id,
                    "created_at": writer.header.created_at,
                    "app_version": app_version(),
                    "database": {
                        "vendor": database.vendor,
                        "name": database.name,
                        "migration_heads": heads,
                    },
                    "kept_directories": list(KEPT_DIRECTORIES),
                    **references,
                }
            )
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    files = [part for part in manifest["parts"] if part["kind"] == FILE]
    return {
        "archive": str(target),
        "bytes": target.stat().st_size,
        "archive_id": manifest["archive_id"],
        "created_at": manifest["created_at"],
        "app_version": manifest["app_version"],
        "database": {
            "vendor": database.vendor,
            "name": database.name,
            "dump_bytes": manifest["parts"][0]["bytes"],
        },
        "files": len(files),
        "file_bytes": sum(part["bytes"] for part in files),
        "workspace_keys": manifest["workspace_keys"]["rows"],
        "master_keys": [key["id"] for key in manifest["master_keys"]],
        "backup_key": writer.header.backup_key,
    }


def _add_file(writer: ArchiveWriter, name: str, path: Path) -> None:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return  # deleted since it was listed (an expired export): nothing to keep
    with handle:
        writer.begin_part(name, FILE)
        while block := handle.read(_BLOCK_BYTES):
            writer.write(block)
        writer.end_part()
