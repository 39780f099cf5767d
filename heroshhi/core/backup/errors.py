"""What a backup or a restore refuses or fails with; the message says what to do."""

from __future__ import annotations


class BackupError(Exception):
    """A backup cannot be made, or an archive cannot (or must not) be restored.

    Messages name files, databases, key ids and fingerprints, never key material or data.
    """
