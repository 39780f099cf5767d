"""A web process wakes a workspace's inbox at most once per interval, and never leaves a
stored delivery without a wake after it (tasks.inbox_wake_soon)."""

from __future__ import annotations

import time
import uuid

import pytest

from heroshhi.whatsapp import tasks

INTERVAL_MS = 200


@pytest.fixture
def queued(settings, monkeypatch):
    """The moments a drain task was queued; each queued task starts at once (it removes
    the wake-up key first, as the real one does)."""
    settings.WEBHOOK_WAKE_INTERVAL_MS = INTERVAL_MS
    monkeypatch.setattr(tasks, "_woken_at", {})
    monkeypatch.setattr(tasks, "_due", {})
    moments: list[float] = []

    def delay(workspace_id: str) -> None:
        moments.append(time.monotonic())
        tasks.cache.delete(tasks._wake_key(uuid.UUID(workspace_id)))

    monkeypatch.setattr(tasks.process_webhook_inbox, "delay", delay)
    return moments


def _settle() -> None:
    time.sleep(INTERVAL_MS / 1000 * 2)


def test_a_burst_queues_one_task_at_once_and_one_after_its_last_delivery(queued):
    workspace = uuid.uuid4()
    tasks.inbox_wake_soon(workspace)
    assert len(queued) == 1  # the first delivery is not held back
    last_stored = 0.0
    for _ in range(5):
        tasks.inbox_wake_soon(workspace)
        last_stored = time.monotonic()
    assert len(queued) == 1
    _settle()

    assert len(queued) == 2
    assert queued[1] >= last_stored


def test_deliveries_further_apart_than_the_interval_each_wake_at_once(queued):
    workspace = uuid.uuid4()
    for n in range(1, 3):
        tasks.inbox_wake_soon(workspace)
        assert len(queued) == n
        _settle()
    assert len(queued) == 2


def test_workspaces_are_woken_apart(queued):
    tasks.inbox_wake_soon(uuid.uuid4())
    tasks.inbox_wake_soon(uuid.uuid4())

    assert len(queued) == 2


def test_without_an_interval_every_delivery_wakes_at_once(queued, settings):
    settings.WEBHOOK_WAKE_INTERVAL_MS = 0
    workspace = uuid.uuid4()
    for _ in range(3):
        tasks.inbox_wake_soon(workspace)

    assert len(queued) == 3
