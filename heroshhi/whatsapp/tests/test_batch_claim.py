"""A worker drains a workspace's webhook inbox in batches, without stepping on the rows
another worker holds, one worker per workspace at a time. Row and advisory locks need
PostgreSQL (and a second connection to hold one):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/1 \\
    .venv/bin/pytest -n 0 -q heroshhi/whatsapp/tests/test_batch_claim.py
"""

from __future__ import annotations

from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import Message
from heroshhi.whatsapp import inbox, tasks
from heroshhi.whatsapp.inbox import delivery_process, inbox_drain
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.tests.webhook_support import (
    change,
    contact,
    encode,
    envelope,
    make_channel,
    text_message,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="batch claims and SKIP LOCKED are PostgreSQL's; run with DATABASE_URL=postgres://…",
    ),
]


def _stored(world, channel, n: int) -> list[WebhookDelivery]:
    deliveries = []
    with workspace_scope(world.a):
        for i in range(n):
            wa_id = f"9197{i:08d}"
            body = envelope(
                [
                    change(
                        channel,
                        contacts=[contact(wa_id, name=f"Contact {i}")],
                        messages=[text_message(f"wamid.batch.{i}", "Hello", wa_id=wa_id)],
                    )
                ]
            )
            deliveries.append(
                WebhookDelivery.objects.create(
                    workspace=world.a, channel=channel, body=encode(body).decode(), body_sha256="x"
                )
            )
    return deliveries


def _other_connection() -> psycopg.Connection:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "127.0.0.1"
    return psycopg.connect(f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{db['NAME']}")


def _state(world) -> dict[str, tuple[str, int]]:
    with workspace_scope(world.a):
        return {
            str(pk): (status, attempts)
            for pk, status, attempts in WebhookDelivery.objects.values_list(
                "pk", "status", "attempts"
            )
        }


def test_the_drain_takes_the_backlog_in_batches_and_later_tasks_find_nothing_to_do(
    world, monkeypatch
):
    monkeypatch.setattr(inbox, "CLAIM_BATCH", 2)
    channel = make_channel(world.a)
    deliveries = _stored(world, channel, 5)

    assert inbox_drain(workspace_id=world.a.pk).processed == 5

    assert set(_state(world).values()) == {("processed", 1)}
    # A retry by id (the sweeper's) finds them finished and leaves them alone.
    assert all(delivery_process(delivery_id=str(d.pk)) is None for d in deliveries)
    assert inbox_drain(workspace_id=world.a.pk).processed == 0
    with workspace_scope(world.a):
        assert Message.objects.count() == 5


def test_the_drain_stops_after_its_time_and_queues_a_fresh_task(world, monkeypatch):
    monkeypatch.setattr(inbox, "CLAIM_BATCH", 2)
    monkeypatch.setattr(inbox, "DRAIN_SECONDS", 0)
    channel = make_channel(world.a)
    _stored(world, channel, 5)
    queued: list[str] = []
    monkeypatch.setattr(tasks.process_webhook_inbox, "delay", queued.append)

    assert tasks.process_webhook_inbox(str(world.a.pk)) == 2

    assert queued == [str(world.a.pk)]
    assert sorted(_state(world).values()).count(("received", 0)) == 3


def test_a_drain_skips_deliveries_another_worker_holds(world):
    channel = make_channel(world.a)
    _first, held, *_rest = _stored(world, channel, 4)

    with _other_connection() as other:
        locked = other.execute(
            "SELECT id FROM whatsapp_webhookdelivery WHERE id = %s FOR UPDATE",
            [held.pk],
        ).fetchall()
        assert len(locked) == 1
        assert inbox_drain(workspace_id=world.a.pk).processed == 3
        # Nor is it claimed by id while another worker holds it.
        assert delivery_process(delivery_id=str(held.pk)) is None
        other.rollback()

    state = _state(world)
    assert state[str(held.pk)] == ("received", 0)
    assert [s for pk, s in state.items() if pk != str(held.pk)] == [("processed", 1)] * 3
    assert inbox_drain(workspace_id=world.a.pk).processed == 1
    assert _state(world)[str(held.pk)] == ("processed", 1)


def test_a_delivery_claimed_but_held_while_processing_is_not_processed_twice(world):
    """Claimed by one worker (its attempt counted), then its own task comes to another
    worker while the first still holds it: the second skips it."""
    channel = make_channel(world.a)
    (delivery,) = _stored(world, channel, 1)

    with _other_connection() as other:
        other.execute(
            "UPDATE whatsapp_webhookdelivery SET attempts = 1 WHERE id = %s",
            [delivery.pk],
        )
        other.commit()
        other.execute(
            "SELECT id FROM whatsapp_webhookdelivery WHERE id = %s FOR UPDATE",
            [delivery.pk],
        )
        assert delivery_process(delivery_id=str(delivery.pk)) is None
        other.rollback()

    with workspace_scope(world.a):
        assert not Message.objects.exists()
    assert _state(world)[str(delivery.pk)][0] == "received"


def test_one_worker_at_a_time_per_workspace_and_other_workspaces_go_on(world):
    from django.db import OperationalError

    mine = _stored(world, make_channel(world.a), 1)[0]
    with workspace_scope(world.b):
        theirs = WebhookDelivery.objects.create(
            workspace=world.b,
            channel=make_channel(world.b),
            body=encode(envelope([])).decode(),
            body_sha256="x",
        )
    key = int.from_bytes(world.a.pk.bytes[:4], "big", signed=True)

    with _other_connection() as other:
        # Another worker is processing workspace A's deliveries.
        other.execute("SELECT pg_advisory_xact_lock(%s, %s)", [inbox._WORKSPACE_TURN_LOCK, key])
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        try:
            with pytest.raises(OperationalError):
                delivery_process(delivery_id=str(mine.pk))
            assert delivery_process(delivery_id=str(theirs.pk)) is not None
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
        other.rollback()

    assert _state(world)[str(mine.pk)] == ("received", 1)
    assert delivery_process(delivery_id=str(mine.pk)) is not None
    assert _state(world)[str(mine.pk)] == ("processed", 2)


def test_a_claimed_delivery_locked_for_a_moment_by_someone_else_is_waited_for(world):
    """Between our claim and our lock, another transaction holds the row for a moment (a
    second worker's claim statement that scanned it). Skipping it would strand the row:
    its attempt is counted, so no later drain claims it and only the sweeper would."""
    import threading
    import time

    (delivery,) = _stored(world, make_channel(world.a), 1)
    key = int.from_bytes(world.a.pk.bytes[:4], "big", signed=True)
    drained: list[int] = []

    def drain() -> None:
        try:
            drained.append(inbox_drain(workspace_id=world.a.pk).processed)
        finally:
            connection.close()

    with _other_connection() as turn, _other_connection() as row:
        # The drain claims, then waits for its turn at the workspace...
        turn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [inbox._WORKSPACE_TURN_LOCK, key])
        worker = threading.Thread(target=drain)
        worker.start()
        deadline = time.monotonic() + 10
        while _state(world)[str(delivery.pk)] != ("received", 1):
            assert time.monotonic() < deadline, "the drain never claimed the delivery"
            time.sleep(0.02)
        # ...while someone else holds the claimed row, past the moment its turn comes.
        row.execute(
            "SELECT id FROM whatsapp_webhookdelivery WHERE id = %s FOR UPDATE", [delivery.pk]
        )
        turn.rollback()
        time.sleep(0.3)
        row.rollback()
        worker.join(timeout=30)

    assert not worker.is_alive()
    assert drained == [1]
    assert _state(world)[str(delivery.pk)] == ("processed", 1)
