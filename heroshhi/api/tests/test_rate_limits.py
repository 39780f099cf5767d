"""API rate limit (P11): per key, shared cache, 429 with Retry-After."""

import uuid

from heroshhi.accounts.services import api_key_create
from heroshhi.core import ratelimit
from heroshhi.core.actors import Actor
from heroshhi.workspaces.permissions import Role


def _key(workspace):
    return api_key_create(
        workspace=workspace,
        actor=Actor.user("test", role=Role.OWNER),
        created_by=None,
        name="load",
        role=Role.OWNER,
    ).plaintext


def _freeze_clock(monkeypatch, at=6000.0):
    """Pin the limiter's clock to the start of a window so no test straddles a boundary."""
    monkeypatch.setattr(ratelimit, "_now", lambda: at)


def test_the_101st_request_in_a_minute_is_refused_with_retry_after(
    client, world, settings, monkeypatch
):
    _freeze_clock(monkeypatch)
    settings.API_RATE_LIMIT_PER_MINUTE = 100
    headers = {"HTTP_AUTHORIZATION": f"Bearer {_key(world.a)}"}
    statuses = [client.get("/api/v1/me", **headers).status_code for _ in range(100)]
    assert set(statuses) == {200}
    refused = client.get("/api/v1/me", **headers)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) == 60


def test_each_key_has_its_own_bucket(client, world, settings, monkeypatch):
    _freeze_clock(monkeypatch)
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    first = {"HTTP_AUTHORIZATION": f"Bearer {_key(world.a)}"}
    second = {"HTTP_AUTHORIZATION": f"Bearer {_key(world.b)}"}
    for _ in range(3):
        client.get("/api/v1/me", **first)
    assert client.get("/api/v1/me", **first).status_code == 429
    assert client.get("/api/v1/me", **second).status_code == 200


def test_the_window_slides_so_traffic_recovers():
    # A fresh key per run: parallel test processes share the Redis cache.
    key = uuid.uuid4().hex
    limit = ratelimit.Limit("unit", 10, 60)
    start = 6000.0  # the start of a window
    for i in range(10):
        assert ratelimit.hit(limit, key, now=start + i).allowed
    assert not ratelimit.hit(limit, key, now=start + 10).allowed
    # Half-way through the next window, half of the previous window still counts.
    assert ratelimit.hit(limit, key, now=start + 90).allowed
    # Two windows later the bucket is empty again.
    assert all(ratelimit.hit(limit, key, now=start + 180 + i).allowed for i in range(10))


def test_a_saturated_api_bucket_leaves_the_webhook_bucket_alone(
    client, world, settings, monkeypatch
):
    _freeze_clock(monkeypatch)
    settings.API_RATE_LIMIT_PER_MINUTE = 5
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 6000
    headers = {"HTTP_AUTHORIZATION": f"Bearer {_key(world.a)}"}
    for _ in range(5):
        client.get("/api/v1/me", **headers)
    assert client.get("/api/v1/me", **headers).status_code == 429
    channel = uuid.uuid4().hex
    decisions = [ratelimit.hit(ratelimit.webhook_limit(), channel) for _ in range(200)]
    assert all(decision.allowed for decision in decisions)
    assert decisions[-1].remaining == 6000 - 200
