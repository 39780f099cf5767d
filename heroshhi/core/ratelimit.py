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
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


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


def _count(current_key: str, previous_key: str, *, timeout: int) -> tuple[int, int]:
    """Add one to the current window's counter; (its new value, the previous window's).

    On Redis this is one round trip (INCR, EXPIRE, GET in a pipeline) instead of the four
    the generic cache calls take: every API request and webhook pays for it."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # Django's own Redis backend stores integers as plain Redis integers, so INCR and
        # cache.get() agree on them; keys go through the cache's prefix and version.
        counter = backend.make_and_validate_key(current_key)
        pipeline = backend._cache.get_client(counter, write=True).pipeline(transaction=False)
        pipeline.incr(counter)
        pipeline.expire(counter, timeout)
        pipeline.get(backend.make_and_validate_key(previous_key))
        current, _expiry_set, previous = pipeline.execute()
        return int(current), int(previous or 0)
    cache.add(current_key, 0, timeout=timeout)
    try:
        current = cache.incr(current_key)
    except ValueError:  # expired between add and incr
        cache.set(current_key, 1, timeout=timeout)
        current = 1
    return current, cache.get(previous_key, 0)


def hit(limit: Limit, key: str, *, now: float | None = None) -> Decision:
    """Count one event for ``key`` and say whether it is within the limit."""
    now = _now() if now is None else now
    window_index = int(now // limit.window_seconds)
    current, previous = _count(
        _cache_key(limit, key, window_index),
        _cache_key(limit, key, window_index - 1),
        timeout=limit.window_seconds * 2,
    )
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
