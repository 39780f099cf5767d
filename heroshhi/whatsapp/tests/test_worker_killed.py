"""A real Celery worker is killed (SIGKILL) in the middle of a webhook backlog; the sweeper
then finishes the job and every message is stored exactly once.

This needs a database another process can open: on the default in-memory SQLite test
database it is skipped. Run it with PostgreSQL (and Redis, or the default folder broker):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/1 \\
    .venv/bin/pytest -n 0 -q heroshhi/whatsapp/tests/test_worker_killed.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone

from config.celery import app
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import Message
from heroshhi.whatsapp.inbox import CLAIM_BATCH
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.tasks import webhook_deliveries_sweep
from heroshhi.whatsapp.tests.webhook_support import (
    change,
    contact,
    envelope,
    make_channel,
    post,
    text_message,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# More than one task's claim: the worker commits a first batch, and is killed while the
# next one is still open.
DELIVERIES = CLAIM_BATCH + 10
MESSAGES_PER_DELIVERY = 10
ROOT = Path(__file__).resolve().parents[3]


def _worker_env() -> dict[str, str]:
    """The worker must open the very test database this process uses, and listen on this
    process's test queue (config/settings_test.py derives both from the environment)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    url = f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": url,
        "PYTHONUNBUFFERED": "1",
    }


def _start_worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config.celery",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
            "-Q",
            settings.CELERY_TASK_DEFAULT_QUEUE,
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stderr(worker: subprocess.Popen[bytes]) -> str:
    return worker.stderr.read().decode()[-2000:] if worker.stderr else ""


def _counts(world) -> dict[str, int]:
    with workspace_scope(world.a):
        return {
            status: WebhookDelivery.objects.filter(status=status).count()
            for status in WebhookDelivery.Status.values
        }


@pytest.fixture
def broker_mode():
    """Tasks travel through the broker to the worker process, not inline."""
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="a worker process cannot open the in-memory SQLite test database; "
    "run with DATABASE_URL=postgres://… (see the module docstring)",
)
def test_a_worker_killed_mid_backlog_loses_nothing_and_duplicates_nothing(world, broker_mode):
    channel = make_channel(world.a)
    client = Client()
    wamids: list[str] = []
    for d in range(DELIVERIES):
        messages, contacts = [], []
        for m in range(MESSAGES_PER_DELIVERY):
            wa_id = f"9198{d:03d}{m:05d}"
            wamid = f"wamid.kill.{d}.{m}"
            wamids.append(wamid)
            contacts.append(contact(wa_id, name=f"Contact {d}-{m}"))
            messages.append(text_message(wamid, "Hi", wa_id=wa_id))
        body = envelope([change(channel, contacts=contacts, messages=messages)])
        assert post(client, channel, body).status_code == 200
    assert _counts(world)["received"] == DELIVERIES

    worker = _start_worker()
    try:
        deadline = time.monotonic() + 120
        while _counts(world)["processed"] == 0:
            assert worker.poll() is None, _stderr(worker)
            assert time.monotonic() < deadline, "the worker processed nothing"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)

    left = _counts(world)
    assert left["received"] > 0, "the worker finished before it could be killed"

    # Two minutes later, by the deliveries' clocks: the sweeper takes over.
    with workspace_scope(world.a):
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED).update(
            queued_at=timezone.now() - timedelta(minutes=3)
        )
    app.conf.task_always_eager = True
    assert webhook_deliveries_sweep() == left["received"]

    assert _counts(world) == {"received": 0, "processed": DELIVERIES, "unprocessable": 0}
    with workspace_scope(world.a):
        stored = list(Message.objects.values_list("provider_message_id", flat=True))
    assert sorted(stored) == sorted(wamids)
