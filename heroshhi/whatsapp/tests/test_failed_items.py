"""Set-aside inbound items: listed for owners and managers in a page and the API, replayed
once the cause is gone (idempotent, audited), and never replayable once the body is gone."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.accounts.services import api_key_create
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
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
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db

# Longer than the bound the parser is given below, short enough for the real column: a
# replay then succeeds once the bound is back to the column's (as after widening it).
LONG_ID = "wamid." + "q" * 40
TS = str(int(time.time()) - 60)


@pytest.fixture
def failed(world, monkeypatch) -> FailedInboundItem:
    """A delivery of two messages whose second one's id is too long for the bound."""
    monkeypatch.setitem(parsing.COLUMN_BOUNDS, "provider_message_id", 20)
    channel = make_channel(world.a)
    body = envelope(
        [
            change(
                channel,
                contacts=[contact("919876500001")],
                messages=[
                    text_message("wamid.ok", "Hi", wa_id="919876500001", ts=TS),
                    text_message(LONG_ID, "Again", wa_id="919876500001", ts=TS),
                ],
            )
        ]
    )
    with workspace_scope(world.a):
        delivery = WebhookDelivery.objects.create(
            workspace=world.a, channel=channel, body=encode(body).decode(), body_sha256="x"
        )
    delivery_process(delivery_id=str(delivery.pk))
    with workspace_scope(world.a):
        return FailedInboundItem.objects.get()


def _key(workspace, role=Role.OWNER) -> dict[str, str]:
    key = api_key_create(
        workspace=workspace,
        actor=Actor.user("test", role=Role.OWNER),
        created_by=None,
        name="ops",
        role=role,
    ).plaintext
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def _replay_url(item) -> str:
    return f"/api/v1/channels/whatsapp/failed-items/{item.pk}/replay"


def _messages(world) -> list[str]:
    with workspace_scope(world.a):
        return sorted(Message.objects.values_list("provider_message_id", flat=True))


def test_the_api_lists_failed_items_without_their_content(client, world, failed):
    response = client.get("/api/v1/channels/whatsapp/failed-items", **_key(world.a))

    assert response.status_code == 200
    [item] = response.json()
    assert item["id"] == str(failed.pk)
    assert item["reason"] == "too_long:id"
    assert item["state"] == "pending"
    assert item["replayable"] is True
    assert "qqqq" not in response.content.decode()
    assert "Again" not in response.content.decode()


def test_other_workspaces_and_sales_keys_see_nothing(client, world, failed):
    assert client.get("/api/v1/channels/whatsapp/failed-items", **_key(world.b)).json() == []
    sales = _key(world.a, role=Role.SALES)
    assert client.get("/api/v1/channels/whatsapp/failed-items", **sales).status_code == 403
    assert client.post(_replay_url(failed), **_key(world.b)).status_code == 404


def test_a_replay_that_fails_again_says_so_and_keeps_the_item(client, world, failed):
    response = client.post(_replay_url(failed), **_key(world.a))

    assert response.status_code == 200
    assert response.json()["outcome"] == "failed"
    assert response.json()["item"]["replay_attempts"] == 1
    assert _messages(world) == ["wamid.ok"]


def test_a_replay_once_the_cause_is_fixed_stores_the_item_once_and_is_audited(
    client, world, failed, monkeypatch
):
    monkeypatch.setitem(parsing.COLUMN_BOUNDS, "provider_message_id", 128)
    headers = _key(world.a)

    first = client.post(_replay_url(failed), **headers)
    second = client.post(_replay_url(failed), **headers)

    assert first.json()["outcome"] == "replayed"
    assert first.json()["item"]["state"] == "replayed"
    assert second.json()["outcome"] == "already_replayed"
    assert _messages(world) == sorted(["wamid.ok", LONG_ID])
    with workspace_scope(world.a):
        events = AuditEvent.objects.filter(action=AuditAction.INBOUND_ITEM_REPLAYED)
        assert events.count() == 1
        assert events.get().target_id == str(failed.pk)


def test_an_item_whose_delivery_is_gone_cannot_be_replayed(client, world, failed):
    with workspace_scope(world.a):
        WebhookDelivery.objects.all().delete()

    response = client.post(_replay_url(failed), **_key(world.a))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "failed_item.body_gone"


def test_a_delivery_with_an_item_to_replay_outlives_the_processed_ones(world, failed):
    from datetime import timedelta

    from django.utils import timezone

    from heroshhi.whatsapp.inbox import KEEP_PROCESSED, webhook_deliveries_prune

    with workspace_scope(world.a):
        WebhookDelivery.objects.update(processed_at=timezone.now() - KEEP_PROCESSED - timedelta(1))
    assert webhook_deliveries_prune() == 0
    with workspace_scope(world.a):
        FailedInboundItem.objects.update(state=FailedInboundItem.State.REPLAYED)
    assert webhook_deliveries_prune() == 1


def test_a_delivery_waiting_for_replay_is_still_pruned_after_the_longest_keeping_time(
    world, failed
):
    from datetime import timedelta

    from django.utils import timezone

    from heroshhi.whatsapp.inbox import KEEP_UNPROCESSABLE, webhook_deliveries_prune

    with workspace_scope(world.a):
        WebhookDelivery.objects.update(
            processed_at=timezone.now() - KEEP_UNPROCESSABLE - timedelta(1)
        )
    assert webhook_deliveries_prune() == 1
    with workspace_scope(world.a):
        assert FailedInboundItem.objects.get().replayable is False


def test_the_owner_replays_from_the_page_and_gets_a_toast(client, world, failed, monkeypatch):
    client.login(email=world.alice.email, password=PASSWORD)
    page = reverse("whatsapp:failed_items", kwargs={"slug": world.a.slug})
    replay = reverse(
        "whatsapp:failed_item_replay", kwargs={"slug": world.a.slug, "item_id": failed.pk}
    )

    listed = client.get(page)
    assert listed.status_code == 200
    assert "too_long:id" in listed.content.decode()
    assert replay in listed.content.decode()

    monkeypatch.setitem(parsing.COLUMN_BOUNDS, "provider_message_id", 128)
    done = client.post(replay, follow=True)
    assert done.status_code == 200
    assert "Item replayed." in done.content.decode()
    assert LONG_ID in _messages(world)


def test_sales_cannot_open_the_page(client, world, failed):
    client.login(email=world.bob.email, password=PASSWORD)
    page = reverse("whatsapp:failed_items", kwargs={"slug": world.a.slug})
    assert client.get(page).status_code == 403
