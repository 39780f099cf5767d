"""Tasks really travel through the configured broker to a real worker."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app
from heroshhi.core.models import Heartbeat
from heroshhi.core.tasks import WORKER_PING, worker_ping

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def real_worker():
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


def test_a_task_round_trips_through_the_broker_and_a_worker(real_worker):
    worker_ping.delay()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Heartbeat.objects.filter(name=WORKER_PING).exists():
            break
        time.sleep(0.1)
    assert Heartbeat.objects.filter(name=WORKER_PING).exists()


def test_the_celery_settings_protect_against_lost_and_unsafe_messages():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert "beat-tick" in conf.beat_schedule
