"""What an audit event may carry, and the check that keeps personal data out of it.

Why no personal data at all: events are sealed into an HMAC chain and kept for a year. If
an e-mail address or a phone number went in, honouring an erasure request would mean
editing or deleting sealed rows, which is exactly what the chain exists to expose, and
every copy of the log (exports, backups, a SIEM) would hold the data too. So events name
people and records by opaque id, and an update records *which* fields changed, by name,
never their old or new values.

The check is a heuristic with a bias towards refusing: a caller who hits a false positive
should pass a number as a number, or an id instead of a label.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from heroshhi.audit.errors import AuditMetadataError, AuditPersonalDataError
from heroshhi.audit.integrity import canonical_json

MAX_DEPTH = 4
MAX_BYTES = 4096
MAX_KEY_LENGTH = 64

# Tokens full of digits that are not personal data; matched first so that the phone
# pattern never starts inside them.
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_DATE = r"(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIMESTAMP = rf"{_DATE}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?(?:Z|[+-]\d{{2}}:?\d{{2}})?)?"
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# Seven or more digits, optionally led by "+" or "(", with up to three spaces, dashes or
# parentheses between digits. Not when glued to letters or digits, a leading dash or a
# decimal point, so hashes, hex ids, "INV-2024-000123" and "3.14159265" pass. An
# underscore does not shield a number: "lead_9876543210" is refused.
_PHONE = r"(?<![A-Za-z0-9.-])\+?\(?\d(?:[\s\-()]{0,3}\d){6,}(?![A-Za-z0-9]|\.\d)"
_SCAN = re.compile(rf"(?P<keep>{_UUID}|{_TIMESTAMP})|(?P<email>{_EMAIL})|(?P<phone>{_PHONE})")


def looks_personal(text: str) -> str | None:
    """``"an e-mail address"`` or ``"a phone number"`` when ``text`` seems to hold one."""
    for match in _SCAN.finditer(text):
        if match.group("email"):
            return "an e-mail address"
        if match.group("phone"):
            return "a phone number"
    return None


def ensure_not_personal(text: str, *, where: str) -> None:
    kind = looks_personal(text)
    if kind:
        # The value itself is never repeated: the message may end up in a log.
        raise AuditPersonalDataError(
            f"{where} looks like {kind}; audit events record ids and field names only."
        )


def clean_metadata(metadata: Mapping[str, object] | None) -> dict[str, object]:
    """A plain-JSON copy of ``metadata``, or an error saying which entry is refused."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise AuditMetadataError("metadata must be a mapping of names to values.")
    cleaned = _clean_mapping(metadata, path="metadata", depth=0)
    if len(canonical_json(cleaned)) > MAX_BYTES:
        raise AuditMetadataError(f"metadata is larger than {MAX_BYTES} bytes.")
    return cleaned


def _clean_mapping(value: Mapping[Any, object], *, path: str, depth: int) -> dict[str, object]:
    cleaned: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
            raise AuditMetadataError(f"{path} keys must be text of 1 to {MAX_KEY_LENGTH} chars.")
        ensure_not_personal(key, where=f"A key of {path}")
        cleaned[key] = _clean(item, path=f"{path}[{key!r}]", depth=depth + 1)
    return cleaned


def _clean(value: object, *, path: str, depth: int) -> object:
    if depth > MAX_DEPTH:
        raise AuditMetadataError(f"{path} is nested more than {MAX_DEPTH} levels deep.")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditMetadataError(f"{path} is not a finite number.")
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise AuditMetadataError(f"{path} contains a NUL character.")
        ensure_not_personal(value, where=path)
        return value
    if isinstance(value, list | tuple):
        return [_clean(item, path=f"{path}[{i}]", depth=depth + 1) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return _clean_mapping(value, path=path, depth=depth)
    raise AuditMetadataError(
        f"{path} is a {type(value).__name__}; use text, numbers, booleans, lists or mappings."
    )
