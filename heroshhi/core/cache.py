"""Django's Redis cache backend, keeping one Redis client per connection pool.

Django builds a new ``redis.Redis`` for every cache call, and redis-py fills a table of a few
hundred response callbacks in each one: about half a millisecond of CPU, more than the round
trip it wraps. The webhook acknowledgement and every rate-limited request make two or three
cache calls, so that was the largest single cost of an ack. A client is thread-safe and holds
no connection of its own (it borrows from the pool), so one per pool serves every thread;
after a fork the pool notices the new process id and opens fresh connections.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class _ClientPerPool(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # Both helpers are Django's own, missing from its type stubs.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        client = self._clients.get(id(pool))
        if client is None:
            # Pools live as long as this object, so their ids stay theirs. Two threads
            # racing here each build one; either is fine to keep.
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class ReusedClientRedisCache(RedisCache):
    """``django.core.cache.backends.redis.RedisCache`` without a client built per call."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _ClientPerPool
