"""Master keys: where they come from and how their text form is read.

Format (environment, ``*_FILE`` secret or the development key file)::

    <key id>:<base64 of 32 bytes>[,<key id>:<base64 of 32 bytes>...]

The first entry is the primary: it wraps every new workspace key. The others are kept
only so existing wrapped keys can still be unwrapped until ``rotate_master_key`` has
re-wrapped them; after that they can be removed from the configuration.

Every error names ``HEROSHHI_MASTER_KEYS`` and the position of the faulty entry, never the
key text itself.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MASTER_KEYS_VARIABLE = "HEROSHHI_MASTER_KEYS"
MASTER_KEY_BYTES = 32

_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
_FILE_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class MasterKeyring:
    """The configured master keys; ``primary_id`` wraps new workspace keys."""

    primary_id: str
    keys: Mapping[str, bytes] = field(repr=False)

    def get(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)


def _config_error(source: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{MASTER_KEYS_VARIABLE} ({source}) is malformed: {problem}.")


def _decode_key(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional; None when it is not base64."""
    normalised = text.replace("-", "+").replace("_", "/")
    normalised += "=" * (-len(normalised) % 4)
    try:
        return base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        return None


def parse_master_keys(raw: str, *, source: str = "environment") -> MasterKeyring:
    """Parse the text form; entries may be separated by commas or new lines."""
    entries = [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
    if not entries:
        raise _config_error(source, "no key entries")
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        key_id, separator, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not separator or not _KEY_ID.fullmatch(key_id):
            raise _config_error(
                source,
                f"entry {position} must look like '<key id>:<base64 of 32 bytes>' "
                "with a key id of letters, digits, '.', '_' or '-'",
            )
        key = _decode_key(encoded.strip())
        if key is None:
            raise _config_error(source, f"entry {position} is not valid base64")
        if len(key) != MASTER_KEY_BYTES:
            raise _config_error(source, f"entry {position} must decode to {MASTER_KEY_BYTES} bytes")
        if key_id in keys:
            raise _config_error(source, f"entry {position} repeats an earlier key id")
        keys[key_id] = key
    return MasterKeyring(primary_id=next(iter(keys)), keys=keys)


def generate_master_key_entry() -> str:
    """A fresh ``<key id>:<base64>`` entry, for a new deployment or a rotation."""
    key_id = f"mk-{time.strftime('%Y%m%d')}-{secrets.token_hex(3)}"
    encoded = base64.b64encode(secrets.token_bytes(MASTER_KEY_BYTES)).decode("ascii")
    return f"{key_id}:{encoded}"


def load_master_keyring() -> MasterKeyring:
    """The keyring from settings, or from the key file when settings carry none."""
    configured: str | None = getattr(settings, "MASTER_KEYS", None)
    if configured:
        return parse_master_keys(configured, source="environment")
    path = Path(settings.MASTER_KEY_FILE)
    if not path.exists():
        if not getattr(settings, "MASTER_KEY_GENERATE", False):
            raise ImproperlyConfigured(
                f"{MASTER_KEYS_VARIABLE} (or {MASTER_KEYS_VARIABLE}_FILE) is not set and "
                "no master key may be generated here; configure it before starting."
            )
        _create_key_file(path)
    return parse_master_keys(_read_key_file(path), source=f"key file {path}")


def _read_key_file(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise ImproperlyConfigured(
            f"{MASTER_KEYS_VARIABLE} key file {path} must not be readable by group or others."
        )
    # Another process may have just created the file and not finished writing it.
    deadline = time.monotonic() + _FILE_WAIT_SECONDS
    content = path.read_text().strip()
    while not content and time.monotonic() < deadline:
        time.sleep(0.05)
        content = path.read_text().strip()
    return content


def _create_key_file(path: Path) -> None:
    """Create the development key file once; a concurrent creator wins quietly."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_master_key_entry() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
