"""The clock every sign-in rule reads: lockouts, session lifetimes, TOTP steps, the
half-finished two-factor sign-in.

It is the rate limiter's clock, so a test that patches ``heroshhi.core.ratelimit._now``
freezes (or moves) all of them at once, with no sleeps.
"""

from __future__ import annotations

from heroshhi.core import ratelimit


def now() -> float:
    """Seconds since the epoch."""
    return ratelimit._now()
