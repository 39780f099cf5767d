"""The Redis cache backend keeps one client per connection pool (building a client per call
cost more CPU than the round trip), and stays correct when threads share it."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from heroshhi.core.cache import ReusedClientRedisCache

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="needs a Redis server (REDIS_URL)")


@pytest.fixture
def backend():
    prefix = f"test-cache-{uuid.uuid4().hex}"
    backend = ReusedClientRedisCache(REDIS_URL, {"KEY_PREFIX": prefix})
    yield backend
    backend.clear()


def test_every_call_gets_the_same_client_for_the_same_pool(backend):
    first = backend._cache.get_client(write=True)
    second = backend._cache.get_client(write=True)
    reader = backend._cache.get_client()

    assert first is second
    # One server: reads and writes share its pool, so its client too.
    assert reader is first
    assert first.connection_pool is backend._cache._get_connection_pool(True)


def test_threads_sharing_the_client_count_exactly(backend):
    backend.set("hits", 0)
    per_thread, threads = 50, 8

    def work():
        for _ in range(per_thread):
            backend.incr("hits")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert backend.get("hits") == per_thread * threads
    assert backend.add("once", 1, timeout=5) is True
    assert backend.add("once", 2, timeout=5) is False
    assert backend.get("once") == 1
