"""The sliding-window counter, on whatever cache the run is configured with (Redis when
REDIS_URL is set, where the counting is one pipelined round trip)."""

from __future__ import annotations

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from heroshhi.core import ratelimit
from heroshhi.core.ratelimit import Limit, hit

pytestmark = pytest.mark.django_db

LIMIT = Limit("test", 3, 60)
START = 1_800_000_000.0  # the start of a window: a multiple of 60


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_limit_allows_a_full_burst_then_refuses_with_retry_after():
    decisions = [hit(LIMIT, "client-1", now=START + 10) for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after == 50
    assert hit(LIMIT, "client-2", now=START + 10).allowed


def test_the_previous_window_counts_by_how_much_it_still_overlaps():
    for _ in range(3):
        hit(LIMIT, "client-1", now=START + 59)

    # Halfway into the next window half of the previous three still count: 1.5 + 1.
    assert hit(LIMIT, "client-1", now=START + 90).allowed
    # 1.5 + 2 is over the limit.
    assert not hit(LIMIT, "client-1", now=START + 90).allowed
    # A window later the old burst no longer counts at all.
    assert hit(LIMIT, "client-1", now=START + 180).allowed


@pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the pipelined path is Redis's"
)
def test_on_redis_the_counter_is_a_plain_integer_with_an_expiry():
    hit(LIMIT, "client-1", now=START + 1)
    hit(LIMIT, "client-1", now=START + 2)

    key = ratelimit._cache_key(LIMIT, "client-1", int(START // 60))
    assert cache.get(key) == 2
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    counter = backend.make_and_validate_key(key)
    ttl = backend._cache.get_client(counter).ttl(counter)
    assert 0 < ttl <= LIMIT.window_seconds * 2
