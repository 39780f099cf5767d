"""Time-based one-time passwords (RFC 6238) and recovery codes: pure functions, no I/O.

Codes are 6 digits over 30-second steps. One step either side of now is accepted for clock
drift, and only steps newer than the last one used, so a code works once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import quote

import pyotp

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
ISSUER = "Heroshhi Pro"
RECOVERY_CODE_COUNT = 10

# Crockford-style alphabet: no I, L, O or U, so codes survive being read aloud or typed.
_RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RECOVERY_GROUPS = 4
_RECOVERY_GROUP_LENGTH = 4  # 16 characters of 5 bits: 80 random bits
_TOTP_CODE = re.compile(r"\d{6}")
_SEPARATORS = re.compile(r"[\s-]+")


def new_secret() -> str:
    """A base32 shared secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(length=32)


def time_step(now: float) -> int:
    return int(now // STEP_SECONDS)


def provisioning_uri(secret: str, *, account_label: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (Key Uri Format)."""
    label = quote(f"{ISSUER}:{account_label}", safe=":")
    return (
        f"otpauth://totp/{label}?secret={secret}&issuer={quote(ISSUER)}"
        f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it in by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def clean_code(raw: str) -> str:
    """What the user typed, without spaces and dashes, upper-cased."""
    return _SEPARATORS.sub("", raw).upper()


def is_totp_code(code: str) -> bool:
    return bool(_TOTP_CODE.fullmatch(code))


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, *, now: float, after_step: int) -> int | None:
    """The time step ``code`` belongs to, if it is within the drift and newer than
    ``after_step``; None otherwise. Every candidate is compared, in constant time."""
    if not is_totp_code(code):
        return None
    current = time_step(now)
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found


def new_recovery_code() -> str:
    groups = (
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_GROUP_LENGTH))
        for _ in range(_RECOVERY_GROUPS)
    )
    return "-".join(groups)


def is_recovery_code(code: str) -> bool:
    length = _RECOVERY_GROUPS * _RECOVERY_GROUP_LENGTH
    return len(code) == length and all(c in _RECOVERY_ALPHABET for c in code)


def recovery_code_hash(*, user_id: object, code: str) -> str:
    """Hash of a cleaned code (see ``clean_code``), bound to its user."""
    return hashlib.sha256(f"heroshhi/recovery/v1|{user_id}|{code}".encode()).hexdigest()
