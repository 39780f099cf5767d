"""``manage.py restore ARCHIVE [--force]``: bring a backup up into the configured database.

Verifies the whole archive first and refuses, with the reason and a non-zero exit, a
damaged or truncated archive, the wrong backup key, a missing master or audit key, an
archive of a newer app version, or a target that is not empty (unless ``--force``). Prints
a JSON summary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heroshhi.core.backup.errors import BackupError
from heroshhi.core.backup.restore import backup_restore


class Command(BaseCommand):
    help = (
        "Restore an archive made by `backup` into the configured (empty) database and "
        "VAR_DIR, with the same master keys, audit key and HEROSHHI_BACKUP_KEY configured."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", type=Path, help="The archive made by `backup`.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace the target's tables and files instead of refusing when it is not empty.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = backup_restore(archive=options["archive"], force=options["force"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(summary, indent=2))
