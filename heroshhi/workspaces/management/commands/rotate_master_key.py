"""Re-wrap every workspace key under the primary master key.

Rotation procedure:

1. ``manage.py rotate_master_key --generate-key`` prints a fresh entry.
2. Put it first in ``HEROSHHI_MASTER_KEYS`` (it becomes primary), keep the old entries
   after it, and restart the processes.
3. ``manage.py rotate_master_key`` re-wraps every key. It is idempotent: repeat it until
   the usage line lists only the primary, then remove the old entries.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heroshhi.core.crypto.errors import DecryptionError
from heroshhi.core.crypto.master import generate_master_key_entry
from heroshhi.workspaces.keys import DEFAULT_BATCH_SIZE, master_key_rewrap_all


class Command(BaseCommand):
    help = "Re-wrap every workspace key under the primary master key (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--generate-key",
            action="store_true",
            help="Print a new '<key id>:<base64>' master key entry and change nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate_key"]:
            self.stdout.write(generate_master_key_entry())
            return
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            report = master_key_rewrap_all(batch_size=options["batch_size"])
        except DecryptionError as exc:
            raise CommandError(f"{exc}. Nothing after the last finished batch changed.") from None
        usage = ", ".join(f"{key_id}: {count}" for key_id, count in report.usage_after.items())
        self.stdout.write(
            f"primary master key {report.primary_master_key_id}: "
            f"{report.total} workspace keys, {report.rewrapped} re-wrapped, "
            f"{report.already_current} already current."
        )
        self.stdout.write(f"keys per master key: {usage or 'none'}")
        if set(report.usage_after) - {report.primary_master_key_id}:
            self.stdout.write(self.style.WARNING("Some keys still use an old master key."))
        else:
            self.stdout.write(
                self.style.SUCCESS("Every key uses the primary; old master keys may be removed.")
            )
