"""One bad item of a delivery is set aside with its reason; its neighbours are stored once.

An item our columns cannot hold is refused while the body is read; a write that fails
anyway is retried item by item, so only the item that fails again is set aside. Either way
it is recorded as a failed inbound item, with a reason code and no content.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.cache import cache

from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import Message
from heroshhi.whatsapp import parsing
from heroshhi.whatsapp.inbox import delivery_process
from heroshhi.whatsapp.models import FailedInboundItem, WebhookDelivery
from heroshhi.whatsapp.tests.webhook_support import (
    change,
    contact,
    encode,
    envelope,
    make_channel,
    text_message,
)

pytestmark = pytest.mark.django_db(transaction=True)

on_postgresql = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="SQLite does not enforce column lengths; run with DATABASE_URL=postgres://…",
)
TS = str(int(time.time()) - 60)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def channel(world):
    return make_channel(world.a)


def _stored(world, channel, body) -> WebhookDelivery:
    with workspace_scope(world.a):
        return WebhookDelivery.objects.create(
            workspace=world.a, channel=channel, body=encode(body).decode(), body_sha256="x"
        )


def _three_messages(channel, middle_id: str):
    wa_ids = ["919876500001", "919876500002", "919876500003"]
    return envelope(
        [
            change(
                channel,
                contacts=[contact(wa_id, name=f"Contact {n}") for n, wa_id in enumerate(wa_ids)],
                messages=[
                    text_message("wamid.first", "One", wa_id=wa_ids[0], ts=TS),
                    text_message(middle_id, "Two", wa_id=wa_ids[1], ts=TS),
                    text_message("wamid.third", "Three", wa_id=wa_ids[2], ts=TS),
                ],
            )
        ]
    )


def _stored_ids(world) -> set[str]:
    with workspace_scope(world.a):
        return set(Message.objects.values_list("provider_message_id", flat=True))


def test_an_over_long_message_id_is_set_aside_and_its_neighbours_are_stored(world, channel):
    too_long = "wamid." + "x" * 200
    delivery = _stored(world, channel, _three_messages(channel, too_long))

    delivery_process(delivery_id=str(delivery.pk))

    with workspace_scope(world.a):
        delivery.refresh_from_db()
        failed = list(FailedInboundItem.objects.all())
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.attempts == 1
    assert delivery.summary["messages"] == 2
    assert _stored_ids(world) == {"wamid.first", "wamid.third"}
    assert len(failed) == 1
    item = failed[0]
    assert (item.delivery_id, item.channel_id) == (delivery.pk, channel.pk)
    assert item.path == "entry[0].changes[0].messages[1]"
    assert item.kind == "messages"
    assert item.reason == "too_long:id"
    assert item.state == FailedInboundItem.State.PENDING
    # A reason code only: nothing the contact wrote or sent.
    assert "x" * 20 not in item.reason


def test_processing_the_same_delivery_again_records_the_failed_item_once(world, channel):
    body = _three_messages(channel, "wamid." + "y" * 200)
    first, second = _stored(world, channel, body), _stored(world, channel, body)

    delivery_process(delivery_id=str(first.pk))
    delivery_process(delivery_id=str(second.pk))

    with workspace_scope(world.a):
        assert FailedInboundItem.objects.filter(delivery=first).count() == 1
        assert FailedInboundItem.objects.filter(delivery=second).count() == 1
        assert Message.objects.count() == 2


@on_postgresql
def test_a_write_the_database_refuses_is_retried_item_by_item(world, channel, monkeypatch):
    # The parser's bound widened past the column: only the database can refuse the item now,
    # inside the set-based write of the whole delivery.
    monkeypatch.setitem(parsing.COLUMN_BOUNDS, "provider_message_id", 10_000)
    delivery = _stored(world, channel, _three_messages(channel, "wamid." + "z" * 200))

    delivery_process(delivery_id=str(delivery.pk))

    with workspace_scope(world.a):
        delivery.refresh_from_db()
        failed = FailedInboundItem.objects.get()
    assert delivery.status == WebhookDelivery.Status.PROCESSED
    assert delivery.attempts == 1
    assert _stored_ids(world) == {"wamid.first", "wamid.third"}
    assert failed.path == "entry[0].changes[0].messages[1]"
    assert failed.reason == "store_failed:DataError"
