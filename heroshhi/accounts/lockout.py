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
clears the account cap, so its owner always has a way back in.

Failures are counted in sliding windows (the same approximation as
``heroshhi.core.ratelimit``); lock expiry is compared with ``clock.now()``, and cache
timeouts only collect the garbage.
"""

from __future__ import annotations

import hashlib
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


@dataclass(frozen=True, slots=True)
class LoginGate:
    """Which sign-in throttle, if any, refuses this attempt before the password is checked."""

    locked_by: str | None

    @property
    def open(self) -> bool:
        return self.locked_by is None


def login_gate(*, email: str, ip: str | None) -> LoginGate:
    now = clock.now()
    checks = (
        (LOGIN_IP, ip_key(ip)),
        (LOGIN_PAIR, pair_key(email, ip)),
        (LOGIN_ACCOUNT, normalise_email(email)),
    )
    for throttle, key in checks:
        if is_locked(throttle, key, now=now):
            return LoginGate(locked_by=throttle.name)
    return LoginGate(locked_by=None)


def login_failure(*, email: str, ip: str | None) -> list[str]:
    """Count a failed password check everywhere; the names of the throttles it tripped."""
    now = clock.now()
    counted = (
        (LOGIN_PAIR, pair_key(email, ip)),
        (LOGIN_IP, ip_key(ip)),
        (LOGIN_ACCOUNT, normalise_email(email)),
    )
    return [t.name for t, key in counted if record_failure(t, key, now=now)]


def login_success(*, email: str, ip: str | None) -> None:
    now = clock.now()
    clear_failures(LOGIN_PAIR, pair_key(email, ip), now=now)
    clear_failures(LOGIN_ACCOUNT, normalise_email(email), now=now)


def account_release(*, email: str) -> None:
    """End the account cap after its owner proved control of the mailbox (reset)."""
    clear(LOGIN_ACCOUNT, normalise_email(email))


def reset_request_allowed(*, email: str, ip: str | None) -> bool:
    """Count a reset request against its account and its IP; False when over either."""
    now = clock.now()
    per_ip = ratelimit.hit(RESET_PER_IP, ip_key(ip), now=now)
    per_account = ratelimit.hit(RESET_PER_ACCOUNT, normalise_email(email), now=now)
    return per_ip.allowed and per_account.allowed
