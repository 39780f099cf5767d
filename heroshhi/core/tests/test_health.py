from datetime import timedelta

import pytest
from django.utils import timezone

from heroshhi.core.models import Heartbeat
from heroshhi.core.tasks import BEAT_TICK

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_not_ready_until_beat_has_ticked(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert body["checks"]["database"] is True
    assert body["checks"]["migrations"] is True
    assert body["checks"]["beat"] is False


def test_readyz_is_ready_with_a_fresh_beat_tick(client):
    Heartbeat.objects.create(name=BEAT_TICK, at=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ready"


def test_readyz_reports_a_stale_beat(client, settings):
    Heartbeat.objects.create(
        name=BEAT_TICK,
        at=timezone.now() - timedelta(seconds=settings.BEAT_STALE_AFTER_SECONDS + 5),
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["beat"] is False
