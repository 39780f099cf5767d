"""The simulator's records and their rules of thumb: ids, messages, customers, media, jobs.

Plain data with no locking of its own; `state.Simulator` owns the instances and their lock.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 24 * 60 * 60  # the customer-service window a message opens
_COUNTRIES = {"1": "US", "44": "GB", "91": "IN", "971": "AE", "65": "SG", "61": "AU", "49": "DE"}


class ControlError(Exception):
    """Bad input to the control API: answered 400 (or 404) with a typed envelope."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status

    def envelope(self) -> dict[str, Any]:
        code = "not_found" if self.status == 404 else "invalid"
        return {"error": {"code": code, "message": self.message, "fields": self.fields}}


def new_wamid() -> str:
    return "wamid." + base64.b64encode(b"HBgM" + secrets.token_bytes(24)).decode().rstrip("=")


def derive_user_id(digits: str) -> str:
    """A business-scoped user id (BSUID) like Meta's: country code, dot, digits."""
    country = next(
        (
            iso
            for prefix, iso in sorted(_COUNTRIES.items(), key=lambda p: -len(p[0]))
            if digits.startswith(prefix)
        ),
        "ZZ",
    )
    return f"{country}.{int(hashlib.sha256(digits.encode()).hexdigest()[:16], 16)}"


@dataclass
class Customer:
    wa_id: str
    user_id: str
    name: str


@dataclass
class OutMessage:
    wamid: str
    phone_number_id: str
    to: str | None
    user_id: str | None
    type: str
    text: str
    category: str
    template: dict[str, Any] | None
    interactive: dict[str, Any] | None
    biz_opaque_callback_data: str | None
    created_at: float
    status: str = "accepted"
    errors: list[dict[str, Any]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    last_due: float = 0.0  # monotonic time of the last scheduled status

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": "out",
            "wamid": self.wamid,
            "phone_number_id": self.phone_number_id,
            "to": self.to,
            "user_id": self.user_id,
            "type": self.type,
            "text": self.text,
            "category": self.category,
            "template": self.template,
            "interactive": self.interactive,
            "biz_opaque_callback_data": self.biz_opaque_callback_data,
            "status": "failed" if self.errors else self.status,
            "error_code": self.errors[0]["code"] if self.errors else None,
            "timestamp": int(self.created_at),
        }


@dataclass
class InMessage:
    wamid: str
    phone_number_id: str
    wa_id: str
    type: str
    text: str
    created_at: float
    read_by_business: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": "in",
            "wamid": self.wamid,
            "phone_number_id": self.phone_number_id,
            "from": self.wa_id,
            "type": self.type,
            "text": self.text,
            "status": "read" if self.read_by_business else "received",
            "timestamp": int(self.created_at),
        }


@dataclass
class Media:
    id: str
    phone_number_id: str
    mime_type: str
    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class StatusJob:
    """A status webhook to emit once due; the body is built at send time."""

    generation: int
    phone_number_id: str
    wamid: str
    status: str


@dataclass(frozen=True)
class Delivery:
    """One webhook POST (first attempt, retry or duplicate), with its exact bytes."""

    generation: int
    url: str
    app_secret: str
    body: bytes
    kind: str  # message / status / user_preferences / calls / raw
    sign: bool = True
    signature_override: str | None = None
    attempt: int = 0
    duplicate: bool = False
    retry: bool = True


Job = StatusJob | Delivery


def public_number(number: dict[str, Any]) -> dict[str, Any]:
    """A number without its secrets (for lists and the customer page)."""
    return {
        k: v for k, v in number.items() if k not in ("access_token", "app_secret", "verify_token")
    }


def parse_digits(value: Any, name: str) -> str:
    """A customer number from the control API as digits, or a 400 naming the field."""
    digits = str(value or "").strip().lstrip("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise ControlError("Invalid phone number.", {name: "Digits in E.164, e.g. 919876543210."})
    return digits
