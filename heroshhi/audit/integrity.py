"""How audit rows are sealed: canonical bytes, HMAC-SHA256 and the audit keyring.

``mac = HMAC-SHA256(key, prev_mac || canonical_json(every stored field except mac))``, made
by the sequencer when it links the event. Before that, the writer seals the content alone:
``entry_mac = HMAC-SHA256(key, "entry:" || canonical_json(the fields a writer sets))``, so
the sequencer links nothing that was forged or edited while it waited in the queue.
The canonical form must come out byte-identical after a round trip through SQLite or
PostgreSQL, hence the explicit conversions below (UTC timestamp text, UUID text, whole
floats written as the integers jsonb gives back for them, e.g. ``1e20``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from heroshhi.audit.models import AuditCheckpoint, AuditEvent

# Not part of the MAC: the FK is nulled when a workspace is deleted (``chain`` is sealed),
# and ``entry_mac`` seals the very content the MAC covers (rows linked before it existed
# have none, and their MACs must still verify).
UNSEALED_EVENT_FIELDS = frozenset({"mac", "workspace", "entry_mac"})
# What the sequencer adds; the writer's entry MAC covers every other sealed field.
LINK_FIELDS = frozenset({"seq", "prev_mac"})
# Keeps an entry MAC from ever being taken for a link MAC (those start with a 64-hex MAC).
_ENTRY_DOMAIN = b"entry:"


@dataclass(frozen=True, slots=True)
class AuditKey:
    key_id: str
    secret: bytes


def key_id_for(secret: bytes) -> str:
    """A short public fingerprint naming the key that sealed a row.

    Domain-separated so the fingerprint is not a plain hash of the secret reused elsewhere;
    32 bits of a hash of a high-entropy key reveal nothing useful about it.
    """
    return hashlib.sha256(b"heroshhi-audit-key-id:" + secret).hexdigest()[:8]


def _as_key(raw: str | bytes) -> AuditKey:
    secret = raw.encode() if isinstance(raw, str) else raw
    return AuditKey(key_id=key_id_for(secret), secret=secret)


def current_key() -> AuditKey:
    raw = getattr(settings, "AUDIT_HMAC_KEY", "")
    if not raw:
        raise ImproperlyConfigured("AUDIT_HMAC_KEY must be set to seal audit events.")
    return _as_key(raw)


def keyring() -> dict[str, bytes]:
    """Every key that may have sealed a stored row, by key id.

    ``AUDIT_HMAC_PREVIOUS_KEYS`` (optional) holds retired keys after a rotation, so rows
    sealed before it still verify; new rows are always sealed with the current key.
    """
    keys = [current_key()]
    keys += [_as_key(raw) for raw in getattr(settings, "AUDIT_HMAC_PREVIOUS_KEYS", ())]
    return {key.key_id: key.secret for key in keys}


def _canonical(value: object) -> object:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("Non-finite numbers cannot be sealed.")
        # PostgreSQL parses the float's shortest text exactly, so 1e300 comes back as
        # the integer 10**300; int(1e300) would differ in its low digits.
        return int(Decimal(repr(value))) if value.is_integer() else value
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    raise TypeError(f"Cannot seal a value of type {type(value).__name__}.")


def canonical_json(value: object) -> bytes:
    text = json.dumps(
        _canonical(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_payload(event: AuditEvent) -> dict[str, object]:
    """Every stored field of ``event`` except those in ``UNSEALED_EVENT_FIELDS``."""
    return {
        "id": str(event.id),
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": utc_text(event.occurred_at),
        "actor_type": str(event.actor_type),
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": str(event.action),
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": str(event.outcome),
        "reason": event.reason,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "metadata": event.metadata,
        "prev_mac": event.prev_mac,
        "key_id": event.key_id,
    }


def entry_payload(event: AuditEvent) -> dict[str, object]:
    """What the writer seals: the event's content, without the sequencer's link fields."""
    payload = event_payload(event)
    for name in LINK_FIELDS:
        del payload[name]
    return payload


def _seal(secret: bytes, prev_mac: str, body: bytes) -> str:
    # prev_mac is always 64 hex characters, so the concatenation cannot be ambiguous.
    return hmac.new(secret, prev_mac.encode("ascii") + body, hashlib.sha256).hexdigest()


def event_mac(event: AuditEvent, secret: bytes) -> str:
    return _seal(secret, event.prev_mac, canonical_json(event_payload(event)))


def entry_mac(event: AuditEvent, secret: bytes) -> str:
    body = _ENTRY_DOMAIN + canonical_json(entry_payload(event))
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def checkpoint_mac(checkpoint: AuditCheckpoint, secret: bytes) -> str:
    body = {
        "chain": checkpoint.chain,
        "first_seq": checkpoint.first_seq,
        "through_seq": checkpoint.through_seq,
        "through_mac": checkpoint.through_mac,
        "count": checkpoint.count,
        "purged_at": utc_text(checkpoint.purged_at),
        "key_id": checkpoint.key_id,
    }
    return _seal(secret, checkpoint.through_mac, canonical_json(body))


def macs_equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())
