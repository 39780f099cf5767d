"""``manage.py backup DESTINATION``: one encrypted archive of the database and kept files.

DESTINATION is a folder (the archive is named by its time) or the archive's path. Prints a
JSON summary; exits non-zero with the reason when no archive could be made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heroshhi.core.backup.create import backup_create
from heroshhi.core.backup.errors import BackupError


class Command(BaseCommand):
    help = (
        "Write one archive, sealed with HEROSHHI_BACKUP_KEY, holding the database and the "
        "files the app keeps under VAR_DIR (never the keys; see README, Backups)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("destination", type=Path, help="A folder, or the archive's path.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = backup_create(destination=options["destination"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(summary, indent=2))
