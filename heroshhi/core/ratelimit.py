"""Rate limits counted in the shared cache (Redis in production), so every process agrees.

A sliding-window counter: the previous fixed window's count, weighted by how much of it still
overlaps the sliding window, plus the current window's count. A full burst up to the limit is
allowed; sustained traffic above it is refused until the window slides on.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after: int


def _now() -> float:
    return time.time()


def _cache_key(limit: Limit, key: str, window_index: int) -> str:
    # Keys may be e-mail addresses or IPs; only a digest reaches the cache.
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"rl:{limit.name}:{digest}:{window_index}"


def hit(limit: Limit, key: str, *, now: float | None = None) -> Decision:
    """Count one event for ``key`` and say whether it is within the limit."""
    now = _now() if now is None else now
    window_index = int(now // limit.window_seconds)
    current_key = _cache_key(limit, key, window_index)
    cache.add(current_key, 0, timeout=limit.window_seconds * 2)
    try:
        current = cache.incr(current_key)
    except ValueError:  # expired between add and incr
        cache.set(current_key, 1, timeout=limit.window_seconds * 2)
        current = 1
    previous = cache.get(_cache_key(limit, key, window_index - 1), 0)
    into_window = (now % limit.window_seconds) / limit.window_seconds
    weighted = previous * (1 - into_window) + current
    if weighted <= limit.limit:
        return Decision(allowed=True, remaining=int(limit.limit - weighted), retry_after=0)
    retry_after = math.ceil(limit.window_seconds - (now % limit.window_seconds))
    return Decision(allowed=False, remaining=0, retry_after=max(1, retry_after))


def webhook_limit() -> Limit:
    """Inbound webhooks get their own, much higher bucket per channel, counted apart from
    the API's, so a flood of API calls can never make us refuse Meta or Google deliveries."""
    return Limit("webhook", settings.WEBHOOK_RATE_LIMIT_PER_MINUTE, 60)
