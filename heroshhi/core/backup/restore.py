"""Restoring an archive into the configured database and ``VAR_DIR``.

In this order, so that a refusal leaves the target as it was:

1. the whole archive is read and authenticated, and every part checked against the
   manifest (a damaged, truncated or altered archive, or the wrong backup key, stops here);
2. the archive must fit this deployment: same database vendor, no migrations newer than
   this code, and every master key and audit key it needs configured (by id and
   fingerprint);
3. the target must be empty, unless ``force`` replaces what is there;
4. the archive is read again, the dump going to the database (PostgreSQL: one transaction)
   and the files to their places;
5. the migrations this code has beyond the archive's are applied, and every restored
   workspace key must unwrap under the configured master keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from heroshhi.core.backup.archive import DATABASE, FILE, ArchiveReader, PartSink
from heroshhi.core.backup.database import BackedUpDatabase, database_for
from heroshhi.core.backup.errors import BackupError
from heroshhi.core.backup.files import FileRestore, existing_targets, restore_path
from heroshhi.core.backup.keys import configured_backup_key
from heroshhi.core.backup.manifest import (
    check_database_vendor,
    check_keys_configured,
    check_migrations_known,
)
from heroshhi.core.crypto.keys import reset_key_caches, unwrap_problems
from heroshhi.core.models import WorkspaceKey


def _check_target_empty(database: BackedUpDatabase, files: list[str], *, force: bool) -> None:
    tables = database.table_names()
    present = existing_targets(files)
    if force or not (tables or present):
        return
    found = []
    if tables:
        found.append(f"database {database.name} has {len(tables)} tables")
    if present:
        found.append(f"{len(present)} of the archive's files already exist under VAR_DIR")
    raise BackupError(
        f"The target is not empty ({'; '.join(found)}). Restore into an empty database, "
        "or pass --force to replace what is there."
    )


def _migrate() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        call_command("migrate", interactive=False, verbosity=0)
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]


def backup_restore(*, archive: Path, force: bool = False) -> dict[str, Any]:
    """Restore ``archive`` here; returns a summary, or raises ``BackupError`` saying why not."""
    reader = ArchiveReader(archive, backup_key=configured_backup_key())
    _header, manifest = reader.verify()
    database = database_for(connection)
    check_database_vendor(manifest, connection)
    check_migrations_known(manifest)
    reset_key_caches()  # the master keys as configured now
    check_keys_configured(manifest)
    files = [part["name"] for part in manifest["parts"] if part["kind"] == FILE]
    for name in files:
        restore_path(name)  # refuses a name outside the kept folders before anything is written
    _check_target_empty(database, files, force=force)

    def sink_for(name: str, kind: str) -> PartSink:
        if kind == DATABASE:
            return database.restore_sink(replace=force)
        if kind == FILE:
            return FileRestore(name)
        raise BackupError(f"The archive holds a part of unknown kind {kind!r}.")

    reader.read(sink_for)
    connection.close()  # the next query sees the restored database afresh
    applied = _migrate()  # first, so the key table has this code's shape
    reset_key_caches()
    key_rows = WorkspaceKey.objects.count()
    problems = unwrap_problems()
    if problems:
        raise BackupError(
            f"The archive was restored, but {len(problems)} of {key_rows} workspace keys do "
            f"not unwrap under the configured master keys: the data cannot be decrypted. "
            f"First: {problems[0]}"
        )
    return {
        "restored": str(archive),
        "archive_id": manifest["archive_id"],
        "created_at": manifest["created_at"],
        "app_version": manifest["app_version"],
        "database": {"vendor": database.vendor, "name": database.name},
        "files": len(files),
        "workspace_keys": key_rows,
        "master_keys": [key["id"] for key in manifest["master_keys"]],
        "audit_keys": [key["fingerprint"] for key in manifest["audit_keys"]],
        "migrations_applied": applied,
        "replaced": force,
    }
