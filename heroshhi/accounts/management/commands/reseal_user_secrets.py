"""Re-seal every user secret (TOTP) under the primary master key.

Part of master key rotation: after the new key is primary and ``rotate_master_key`` has
re-wrapped the workspace keys, run this, then remove the old master key.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from heroshhi.accounts.services import totp_secrets_reseal
from heroshhi.core.crypto.errors import DecryptionError


class Command(BaseCommand):
    help = "Re-seal every TOTP secret under the primary master key (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            moved = totp_secrets_reseal()
        except DecryptionError as exc:
            raise CommandError(f"{exc}. Nothing changed.") from None
        self.stdout.write(self.style.SUCCESS(f"{moved} user secrets re-sealed."))
