"""Tasks really travel through the configured broker to a real worker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from config.celery import app
from heroshhi.core.models import Heartbeat
from heroshhi.core.tasks import WORKER_PING, worker_ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


# Generous: on a machine shared by many test runs the worker thread can take long to get a
# turn. The test waits on the real condition and ends as soon as it holds.
ROUND_TRIP_DEADLINE_SECONDS = 120
WORKER_SHUTDOWN_SECONDS = 60


@pytest.fixture
def real_worker():
    # Messages an interrupted earlier run left in this process's queue would be worked
    # through first; the round trip is about the message this test sends.
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)
    app.conf.task_always_eager = False
    try:
        with start_worker(
            app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=WORKER_SHUTDOWN_SECONDS,
        ):
            yield
    finally:
        app.conf.task_always_eager = True


def test_a_task_round_trips_through_the_broker_and_a_worker(real_worker):
    sent = timezone.now()
    worker_ping.delay()
    arrived = Heartbeat.objects.filter(name=WORKER_PING, at__gte=sent)
    deadline = time.monotonic() + ROUND_TRIP_DEADLINE_SECONDS
    while not arrived.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert arrived.exists(), f"no worker ran the ping within {ROUND_TRIP_DEADLINE_SECONDS} s"


def test_the_celery_settings_protect_against_lost_and_unsafe_messages():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert "beat-tick" in conf.beat_schedule
