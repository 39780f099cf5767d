"""The database part of a backup, per vendor.

PostgreSQL: ``pg_dump --format=custom`` of the configured database, streamed from its
stdout, and ``pg_restore`` fed on its stdin, in one transaction that stops at the first
error. Connection settings travel in libpq's environment variables, so the password never
shows on a command line. Ownership and grants are left out: a fresh machine's role names
need not be the old one's.

SQLite: a consistent copy through SQLite's online backup API, taken into a private temporary
file and streamed from there, and restored the same way into the configured database.

Error output of the tools is passed on only as its ``pg_dump:``/``pg_restore:`` lines: the
server's DETAIL and CONTEXT lines can quote row values.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Protocol

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from heroshhi.core.backup.archive import PartSink
from heroshhi.core.backup.errors import BackupError

_BLOCK_BYTES = 1 << 16
_LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}
_TOOL_TIMEOUT_SECONDS = 60


class BackedUpDatabase(Protocol):
    vendor: str
    name: str

    def consistent_view(self) -> contextlib.AbstractContextManager[None]: ...

    def dump(self, write: Callable[[bytes], None]) -> None: ...

    def restore_sink(self, *, replace: bool) -> PartSink: ...

    def table_names(self) -> list[str]: ...


def database_for(connection: BaseDatabaseWrapper) -> BackedUpDatabase:
    if connection.vendor == "postgresql":
        return PostgresDatabase(connection)
    if connection.vendor == "sqlite":
        return SqliteDatabase(connection)
    raise BackupError(f"Backups support PostgreSQL and SQLite, not {connection.vendor}.")


def _tool_messages(stderr: IO[bytes], tool: str) -> str:
    stderr.seek(0)
    lines = stderr.read().decode("utf-8", "replace").splitlines()
    own = [line[:300] for line in lines if line.startswith(f"{tool}:")]
    return "; ".join(own[-5:]) or "no message"


def _require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BackupError(
            f"{tool} is not installed (the PostgreSQL client tools, e.g. Debian's "
            "postgresql-client, of the server's major version or newer)."
        )
    return path


class PostgresDatabase:
    vendor = "postgresql"

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self._connection = connection
        self.name = str(connection.settings_dict["NAME"])
        self._snapshot: str | None = None

    @contextmanager
    def consistent_view(self) -> Iterator[None]:
        """Inside, this process's queries and the dump see one snapshot of the database, so
        the manifest describes exactly what the dump holds."""
        with transaction.atomic(using=self._connection.alias):
            with self._connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                (self._snapshot,) = cursor.fetchone()
            try:
                yield
            finally:
                self._snapshot = None

    def _environment(self) -> dict[str, str]:
        settings_dict = self._connection.settings_dict
        env = {
            "PGDATABASE": self.name,
            "PGHOST": str(settings_dict.get("HOST") or ""),
            "PGPORT": str(settings_dict.get("PORT") or ""),
            "PGUSER": str(settings_dict.get("USER") or ""),
            "PGPASSWORD": str(settings_dict.get("PASSWORD") or ""),
        }
        for option, variable in _LIBPQ_OPTIONS.items():
            value = (settings_dict.get("OPTIONS") or {}).get(option)
            if value is not None:
                env[variable] = str(value)
        # The app's own secrets (master, audit, backup keys) stay out of the tools' environment.
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("HEROSHHI_", "DJANGO_"))
        }
        return inherited | {key: value for key, value in env.items() if value}

    def dump(self, write: Callable[[bytes], None]) -> None:
        command = [_require_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"]
        if self._snapshot is not None:
            command.append(f"--snapshot={self._snapshot}")
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(  # noqa: S603 (a fixed command, no shell)
                command, stdout=subprocess.PIPE, stderr=stderr, env=self._environment()
            )
            assert process.stdout is not None
            try:
                while block := process.stdout.read(_BLOCK_BYTES):
                    write(block)
            except BaseException:
                process.kill()
                raise
            finally:
                process.stdout.close()
                code = process.wait()
            if code != 0:
                raise BackupError(
                    f"pg_dump of database {self.name} failed (exit {code}): "
                    f"{_tool_messages(stderr, 'pg_dump')}"
                )

    def restore_sink(self, *, replace: bool) -> PartSink:
        if replace:
            self._drop_tables()
        command = [
            _require_tool("pg_restore"),
            f"--dbname={self.name}",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
        ]
        if replace:
            # Functions and other objects the archive brings, where they already exist.
            command += ["--clean", "--if-exists"]
        return _PgRestore(command, env=self._environment(), database=self.name, replace=replace)

    def _drop_tables(self) -> None:
        quote = self._connection.ops.quote_name
        with self._connection.cursor() as cursor:
            for table in self.table_names():
                cursor.execute(f"DROP TABLE IF EXISTS {quote(table)} CASCADE")
        self._connection.close()

    def table_names(self) -> list[str]:
        with self._connection.cursor() as cursor:
            return list(self._connection.introspection.table_names(cursor))


class _PgRestore:
    """pg_restore reading the dump from its stdin as the archive is read."""

    def __init__(
        self, command: list[str], *, env: dict[str, str], database: str, replace: bool
    ) -> None:
        self._database = database
        self._replace = replace
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close/abort)
        self._process = subprocess.Popen(  # noqa: S603 (a fixed command, no shell)
            command, stdin=subprocess.PIPE, stderr=self._stderr, env=env
        )

    def write(self, data: bytes) -> None:
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(data)
        except BrokenPipeError:
            self.close()  # raises with pg_restore's own reason when it failed
            raise BackupError(
                f"pg_restore into database {self._database} stopped reading the dump early."
            ) from None

    def close(self) -> None:
        assert self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # it stopped early: its status says why
            self._process.stdin.close()
        code = self._process.wait()
        messages = _tool_messages(self._stderr, "pg_restore")
        self._stderr.close()
        if code != 0:
            left = (
                "its tables were dropped first (--force)"
                if self._replace
                else "nothing was restored (one transaction)"
            )
            raise BackupError(
                f"pg_restore into database {self._database} failed (exit {code}); {left}: "
                f"{messages}"
            )

    def abort(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=_TOOL_TIMEOUT_SECONDS)
        if not self._stderr.closed:
            self._stderr.close()


class SqliteDatabase:
    vendor = "sqlite"

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self._connection = connection
        self.name = str(connection.settings_dict["NAME"])

    @contextmanager
    def consistent_view(self) -> Iterator[None]:
        """The copy is one consistent step of its own; the manifest's queries run just after
        it. A workspace key created in between would be counted without being in the copy,
        which is harmless: a restore checks the keys it actually restored."""
        yield

    def _raw(self) -> sqlite3.Connection:
        self._connection.ensure_connection()
        raw = self._connection.connection
        assert isinstance(raw, sqlite3.Connection)
        return raw

    def dump(self, write: Callable[[bytes], None]) -> None:
        with tempfile.TemporaryDirectory(prefix="heroshhi-backup-") as private:
            copy_path = Path(private) / "database.sqlite3"
            copy = sqlite3.connect(copy_path)
            try:
                self._raw().backup(copy)  # one step: a consistent snapshot
            finally:
                copy.close()
            with copy_path.open("rb") as copied:
                while block := copied.read(_BLOCK_BYTES):
                    write(block)

    def restore_sink(self, *, replace: bool) -> PartSink:
        # The backup API overwrites the whole target; ``replace`` was checked by the caller.
        return _SqliteRestore(self)

    def restore_from(self, path: Path) -> None:
        source = sqlite3.connect(path)
        try:
            source.backup(self._raw())
        finally:
            source.close()
        self._connection.close()

    def table_names(self) -> list[str]:
        with self._connection.cursor() as cursor:
            return list(self._connection.introspection.table_names(cursor))


class _SqliteRestore:
    """Collects the database file privately, then copies it in with the backup API."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database
        self._private = tempfile.TemporaryDirectory(prefix="heroshhi-restore-")
        self._path = Path(self._private.name) / "database.sqlite3"
        self._file = self._path.open("wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def close(self) -> None:
        self._file.close()
        try:
            self._database.restore_from(self._path)
        finally:
            self._private.cleanup()

    def abort(self) -> None:
        self._file.close()
        self._private.cleanup()
