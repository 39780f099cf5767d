"""The files under ``VAR_DIR`` a backup keeps, and how a restore puts them back.

Kept: ``exports/`` (whole-workspace exports waiting to be downloaded, already encrypted with
their workspace's key). Everything else under ``VAR_DIR`` is left out on purpose: ``keys/``
holds secrets that must never travel with the data (see README, Backups), the SQLite file
is the database part, and the broker folders, static files, development mail, the beat
schedule and the simulator's settings are rebuilt or disposable. Received WhatsApp media is
not stored on disk (it is fetched from Meta on demand). A folder the app starts keeping
files in belongs in ``KEPT_DIRECTORIES``.

Part names are POSIX paths relative to ``VAR_DIR`` (``exports/<workspace>/<export>.zip``);
a restore writes only below a kept folder, owner-readable only, each file complete or not
at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from django.conf import settings

from heroshhi.core.backup.errors import BackupError

KEPT_DIRECTORIES = ("exports",)
# A file still being written (an export in progress) is left out: its run is failed and
# cleaned up by the app, so a copy would be a fragment nobody reads.
_PARTIAL_SUFFIX = ".part"
_RESTORING_SUFFIX = ".restoring"


def var_dir() -> Path:
    return Path(settings.VAR_DIR)


def kept_files() -> Iterator[tuple[str, Path]]:
    """(part name, path) of every kept file, in a stable order."""
    root = var_dir()
    for directory in KEPT_DIRECTORIES:
        base = root / directory
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.suffix != _PARTIAL_SUFFIX:
                yield path.relative_to(root).as_posix(), path


def restore_path(name: str) -> Path:
    """Where a part named ``name`` goes; refuses anything outside a kept folder."""
    relative = PurePosixPath(name)
    if (
        relative.is_absolute()
        or ".." in relative.parts
        or len(relative.parts) < 2
        or relative.parts[0] not in KEPT_DIRECTORIES
    ):
        raise BackupError(f"The archive names a file outside the kept folders: {name!r}.")
    return var_dir().joinpath(*relative.parts)


def existing_targets(names: list[str]) -> list[str]:
    return [name for name in names if restore_path(name).exists()]


class FileRestore:
    """Writes one file beside its target and moves it into place once complete."""

    def __init__(self, name: str) -> None:
        self._target = restore_path(name)
        self._target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._partial = self._target.with_name(self._target.name + _RESTORING_SUFFIX)
        self._partial.unlink(missing_ok=True)
        descriptor = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(descriptor, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def close(self) -> None:
        self._file.close()
        os.replace(self._partial, self._target)

    def abort(self) -> None:
        self._file.close()
        self._partial.unlink(missing_ok=True)
