"""Reads for health checks. None of them touches personal data."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from heroshhi.core.models import Heartbeat
from heroshhi.core.tasks import BEAT_TICK


def database_ok() -> bool:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def migrations_pending() -> int:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def broker_ok() -> bool:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        return True


def beat_last_tick_age() -> float | None:
    beat = Heartbeat.objects.filter(name=BEAT_TICK).only("at").first()
    if beat is None:
        return None
    return (timezone.now() - beat.at).total_seconds()


def beat_is_fresh(age: float | None) -> bool:
    return age is not None and timedelta(seconds=age) <= timedelta(
        seconds=settings.BEAT_STALE_AFTER_SECONDS
    )
