"""rows_update: many rows, each its own values, one statement, only rows the queryset admits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heroshhi.core.bulk import rows_update
from heroshhi.core.tenancy import workspace_scope
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.tests.webhook_support import make_channel

pytestmark = pytest.mark.django_db

FIELDS = ["status", "error", "summary", "processed_at"]


def _delivery(workspace, channel, **fields) -> WebhookDelivery:
    with workspace_scope(workspace):
        return WebhookDelivery.objects.create(
            workspace=workspace, channel=channel, body="{}", body_sha256="x", **fields
        )


def _reload(workspace, delivery) -> WebhookDelivery:
    with workspace_scope(workspace):
        return WebhookDelivery.objects.get(pk=delivery.pk)


def test_each_row_gets_its_own_values_and_only_admitted_rows_change(world):
    channel, elsewhere = make_channel(world.a), make_channel(world.b)
    first, second = _delivery(world.a, channel), _delivery(world.a, channel)
    finished = _delivery(world.a, channel, status=WebhookDelivery.Status.PROCESSED)
    foreign = _delivery(world.b, elsewhere)
    at = datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=UTC)
    first.status, first.summary, first.processed_at = "processed", {"messages": 3}, at
    second.status, second.error, second.summary = "unprocessable", "bad_json", {}
    finished.error = "must not be written"
    foreign.error = "must not be written either"

    with workspace_scope(world.a), CaptureQueriesContext(connection) as queries:
        written = rows_update(
            WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED),
            [first, second, finished, foreign],
            FIELDS,
        )

    assert written == 2
    if connection.vendor == "postgresql":
        assert len(queries.captured_queries) == 1
    one, two = _reload(world.a, first), _reload(world.a, second)
    assert (one.status, one.summary, one.processed_at, one.error) == (
        "processed",
        {"messages": 3},
        at,
        "",
    )
    assert (two.status, two.error, two.summary, two.processed_at) == (
        "unprocessable",
        "bad_json",
        {},
        None,
    )
    assert _reload(world.a, finished).error == ""
    assert _reload(world.b, foreign).error == ""


def test_nothing_to_write_runs_nothing(world):
    with workspace_scope(world.a), CaptureQueriesContext(connection) as queries:
        assert rows_update(WebhookDelivery.objects.all(), [], FIELDS) == 0
    assert queries.captured_queries == []
