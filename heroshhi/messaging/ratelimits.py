"""Send pacing shared by every worker (counters in the shared cache, Redis in production).

- Throughput: at most ``channel.throughput_tier`` messages per second per number (Meta
  answers 130429 beyond it).
- Pair spacing: at most one message per ``PAIR_SPACING_SECONDS`` (the setting
  ``WHATSAPP_PAIR_SPACING_SECONDS`` when present) to the same contact from the same number
  (Meta answers 131056 to bursts).

Both answer "wait this many seconds" instead of sleeping: the caller re-queues the message
with that countdown, so a worker never idles on a limit.
"""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.core.cache import cache

PAIR_SPACING_SECONDS = 1
# Spread re-queued messages over a little time so they do not all wake in the same instant.
_JITTER_SECONDS = 0.25


def throughput_wait(*, channel_id: object, per_second: int, now: float | None = None) -> float:
    """Take a send slot for this number in the current second; 0 when granted, else the
    seconds until the next second starts (plus a little jitter)."""
    now = time.time() if now is None else now
    second = int(now)
    key = f"wa:tput:{channel_id}:{second}"
    cache.add(key, 0, timeout=3)
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3)
        used = 1
    if used <= per_second:
        return 0.0
    return (second + 1 - now) + random.uniform(0, _JITTER_SECONDS)  # noqa: S311 (not crypto)


def pair_wait(*, channel_id: object, contact_key: str) -> float:
    """Claim this contact's next slot on this number; 0 when granted, else the spacing.

    ``contact_key`` must not be personal data: pass a blind index or an id.
    """
    spacing = getattr(settings, "WHATSAPP_PAIR_SPACING_SECONDS", PAIR_SPACING_SECONDS)
    if spacing <= 0:
        return 0.0
    key = f"wa:pair:{channel_id}:{contact_key}"
    if cache.add(key, 1, timeout=spacing):
        return 0.0
    return spacing + random.uniform(0, _JITTER_SECONDS)  # noqa: S311
