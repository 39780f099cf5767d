"""Brute-force and credential-stuffing controls for sign-in (ASVS V6.1.1, V6.3.1).

Counters live in the shared cache (Redis in production), so every process agrees. The
policy, per failed attempt:

========================  ==============================  =============================
throttle                  key                             trips at → cool-off
========================  ==============================  =============================
``LOGIN_PAIR``            normalised e-mail + client IP   5 failures / 15 min → 15 min
``LOGIN_IP``              client IP                       50 failures / 15 min → 15 min
``LOGIN_ACCOUNT``         normalised e-mail               100 failures / 24 h → 24 h
``MFA``                   user id                         10 wrong codes / 15 min → 15 min
``REAUTH``                user id                         5 wrong passwords / 15 min → 15 min
========================  ==============================  =============================

While a throttle is tripped every attempt it covers is refused, even with the right
password, and with the same words as a wrong password, so the refusal tells nobody whether
the address has an account. Keying on (e-mail, IP) first means a stranger cannot lock a
colleague out from elsewhere; the IP ceiling stops one address spraying many e-mails; the
account cap (NIST SP 800-63B §5.2.2: at most 100 consecutive failures) stops a botnet that
rotates addresses. A successful sign-in clears the pair and account counters, never the
IP's, so a valid account of the attacker's own cannot reset the ceiling; a password reset
(or a workspace owner's unlock) releases the account: it ends the account cap and every
pair lock of that address, so its owner always has a way back in.

The refusal says how long to wait ("Try again in N minutes or reset your password"), the
same for every address: locks are kept for any string typed, account or not. Pair locks
are keyed by IP, which cannot be listed, so each address also keeps a note of its newest
pair lock (for the owner's view of locked members) and of its last release (pair locks
that started before it no longer refuse).

Failures are counted in sliding windows (the same approximation as
``heroshhi.core.ratelimit``); lock expiry is compared with ``clock.now()``, and cache
timeouts only collect the garbage.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache

from heroshhi.accounts import clock
from heroshhi.core import ratelimit

UNKNOWN_IP = "unknown"
# Cache entries outlive their logical lifetime by this much, so a clock a little ahead of
# the cache's never sees a lock vanish early.
_GRACE_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Throttle:
    name: str
    threshold: int
    window_seconds: int
    cooloff_seconds: int


LOGIN_PAIR = Throttle("login-pair", 5, 15 * 60, 15 * 60)
LOGIN_IP = Throttle("login-ip", 50, 15 * 60, 15 * 60)
LOGIN_ACCOUNT = Throttle("login-account", 100, 24 * 3600, 24 * 3600)
MFA = Throttle("mfa-user", 10, 15 * 60, 15 * 60)
REAUTH = Throttle("reauth-user", 5, 15 * 60, 15 * 60)

# Password reset requests: sliding-window limits, no cool-off (ASVS V6.1.1).
RESET_PER_ACCOUNT = ratelimit.Limit("password-reset-account", 3, 3600)
RESET_PER_IP = ratelimit.Limit("password-reset-ip", 20, 3600)


def normalise_email(raw: str) -> str:
    """The form every e-mail key uses: trimmed and lower-cased (login is case-insensitive)."""
    return raw.strip().lower()


def pair_key(email: str, ip: str | None) -> str:
    return f"{normalise_email(email)}\x00{ip or UNKNOWN_IP}"


def ip_key(ip: str | None) -> str:
    return ip or UNKNOWN_IP


def _digest(throttle: Throttle, key: str) -> str:
    # Keys hold e-mail addresses and IPs; only a digest reaches the cache.
    return hashlib.sha256(f"{throttle.name}\x00{key}".encode()).hexdigest()[:32]


def _count_key(throttle: Throttle, key: str, window: int) -> str:
    return f"lo:{throttle.name}:{_digest(throttle, key)}:{window}"


def _lock_key(throttle: Throttle, key: str) -> str:
    return f"lo:{throttle.name}:{_digest(throttle, key)}:lock"


def _increment(cache_key: str, timeout: int) -> int:
    cache.add(cache_key, 0, timeout=timeout)
    try:
        value = int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=timeout)
        return 1
    # Backends without a native incr rewrite the entry with the default timeout.
    cache.touch(cache_key, timeout)
    return value


def locked_until(throttle: Throttle, key: str, *, now: float | None = None) -> float | None:
    """When the cool-off ends, or None when ``key`` is not locked."""
    now = clock.now() if now is None else now
    until = cache.get(_lock_key(throttle, key))
    if until is None or float(until) <= now:
        return None
    return float(until)


def is_locked(throttle: Throttle, key: str, *, now: float | None = None) -> bool:
    return locked_until(throttle, key, now=now) is not None


def record_failure(throttle: Throttle, key: str, *, now: float | None = None) -> bool:
    """Count one failure; True when it trips the lock (exactly once per cool-off)."""
    now = clock.now() if now is None else now
    window_seconds = throttle.window_seconds
    window = int(now // window_seconds)
    current = _increment(_count_key(throttle, key, window), timeout=2 * window_seconds)
    previous = int(cache.get(_count_key(throttle, key, window - 1), 0))
    overlap = 1 - (now % window_seconds) / window_seconds
    if previous * overlap + current < throttle.threshold:
        return False
    until = now + throttle.cooloff_seconds
    cache.set(_lock_key(throttle, key), until, timeout=throttle.cooloff_seconds + _GRACE_SECONDS)
    # A fresh start once the cool-off ends, instead of re-locking on the first slip.
    clear_failures(throttle, key, now=now)
    return True


def clear_failures(throttle: Throttle, key: str, *, now: float | None = None) -> None:
    """Forget the counted failures (a success), leaving any running cool-off in place."""
    now = clock.now() if now is None else now
    window = int(now // throttle.window_seconds)
    cache.delete_many([_count_key(throttle, key, w) for w in (window, window - 1)])


def clear(throttle: Throttle, key: str, *, now: float | None = None) -> None:
    """Forget failures and end any cool-off (after a password reset)."""
    clear_failures(throttle, key, now=now)
    cache.delete(_lock_key(throttle, key))


# Per-address notes beside the pair locks (see the module docstring).
_PAIR_LOCK_NOTE = "login-pair-newest"
_RELEASE_NOTE = "login-released"


def _address_note_key(note: str, email: str) -> str:
    digest = hashlib.sha256(f"{note}\x00{normalise_email(email)}".encode()).hexdigest()[:32]
    return f"lo:{note}:{digest}"


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """How long a refused sign-in waits, as the message says it: whole minutes, rounded up,
    or whole hours once that reads better."""

    minutes: int

    @classmethod
    def until(cls, until: float, *, now: float) -> RetryAfter:
        return cls(minutes=max(1, math.ceil((until - now) / 60)))

    @property
    def hours(self) -> int | None:
        return math.ceil(self.minutes / 60) if self.minutes > 90 else None


@dataclass(frozen=True, slots=True)
class LoginGate:
    """Which sign-in throttle, if any, refuses this attempt before the password is checked,
    and how long the longest of the running cool-offs has left."""

    locked_by: str | None
    retry_after: RetryAfter | None = None

    @property
    def open(self) -> bool:
        return self.locked_by is None


def _pair_locked_until(email: str, ip: str | None, *, now: float) -> float | None:
    until = locked_until(LOGIN_PAIR, pair_key(email, ip), now=now)
    if until is None:
        return None
    released = cache.get(_address_note_key(_RELEASE_NOTE, email))
    if released is not None and until - LOGIN_PAIR.cooloff_seconds <= float(released):
        return None
    return until


def login_gate(*, email: str, ip: str | None) -> LoginGate:
    now = clock.now()
    checks = (
        (LOGIN_IP, locked_until(LOGIN_IP, ip_key(ip), now=now)),
        (LOGIN_PAIR, _pair_locked_until(email, ip, now=now)),
        (LOGIN_ACCOUNT, locked_until(LOGIN_ACCOUNT, normalise_email(email), now=now)),
    )
    locked = [(throttle, until) for throttle, until in checks if until is not None]
    if not locked:
        return LoginGate(locked_by=None)
    latest = max(until for _throttle, until in locked)
    return LoginGate(locked_by=locked[0][0].name, retry_after=RetryAfter.until(latest, now=now))


def login_failure(*, email: str, ip: str | None) -> list[str]:
    """Count a failed password check everywhere; the names of the throttles it tripped."""
    now = clock.now()
    counted = (
        (LOGIN_PAIR, pair_key(email, ip)),
        (LOGIN_IP, ip_key(ip)),
        (LOGIN_ACCOUNT, normalise_email(email)),
    )
    tripped = [t.name for t, key in counted if record_failure(t, key, now=now)]
    if LOGIN_PAIR.name in tripped:
        cache.set(
            _address_note_key(_PAIR_LOCK_NOTE, email),
            now + LOGIN_PAIR.cooloff_seconds,
            timeout=LOGIN_PAIR.cooloff_seconds + _GRACE_SECONDS,
        )
    return tripped


def login_success(*, email: str, ip: str | None) -> None:
    now = clock.now()
    clear_failures(LOGIN_PAIR, pair_key(email, ip), now=now)
    clear_failures(LOGIN_ACCOUNT, normalise_email(email), now=now)


def account_release(*, email: str) -> None:
    """End the account cap and every pair lock of this address, after its owner proved
    control of the mailbox (reset) or a workspace owner unlocked the member."""
    now = clock.now()
    clear(LOGIN_ACCOUNT, normalise_email(email), now=now)
    cache.delete(_address_note_key(_PAIR_LOCK_NOTE, email))
    cache.set(
        _address_note_key(_RELEASE_NOTE, email),
        now,
        timeout=LOGIN_PAIR.cooloff_seconds + _GRACE_SECONDS,
    )


def accounts_locked_until(*, emails: Iterable[str]) -> dict[str, float]:
    """For each address with a running account cap or an unreleased pair lock (from any
    IP), when the later of them ends; addresses not locked are left out."""
    now = clock.now()
    wanted = {normalise_email(email): email for email in emails}
    keys = {
        email: (
            _lock_key(LOGIN_ACCOUNT, normalised),
            _address_note_key(_PAIR_LOCK_NOTE, email),
        )
        for normalised, email in wanted.items()
    }
    found = cache.get_many([key for pair in keys.values() for key in pair])
    locked: dict[str, float] = {}
    for email, pair in keys.items():
        ends = [float(found[key]) for key in pair if key in found and float(found[key]) > now]
        if ends:
            locked[email] = max(ends)
    return locked


def reset_request_allowed(*, email: str, ip: str | None) -> bool:
    """Count a reset request against its account and its IP; False when over either."""
    now = clock.now()
    per_ip = ratelimit.hit(RESET_PER_IP, ip_key(ip), now=now)
    per_account = ratelimit.hit(RESET_PER_ACCOUNT, normalise_email(email), now=now)
    return per_ip.allowed and per_account.allowed
