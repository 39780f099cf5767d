"""Building blocks for webhook tests: a connected channel, Meta-shaped bodies, signatures.

The bodies are built here (not by the simulator) where a test needs an exact shape the
simulator would never send: batches, missing fields, forged signatures, junk.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from itertools import count
from typing import Any

from django.urls import reverse

from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import Channel
from heroshhi.whatsapp.models import KIND, WhatsAppChannel
from heroshhi.whatsapp.services import channel_create
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role

APP_SECRET = "test-app-secret-0123456789"
VERIFY_TOKEN = "test-verify-token"
_numbers = count(1)


def make_channel(
    workspace: Workspace,
    *,
    phone_number_id: str | None = None,
    display_phone_number: str = "15550783881",
    app_secret: str = APP_SECRET,
) -> WhatsAppChannel:
    return channel_create(
        workspace=workspace,
        actor=Actor(type=ActorType.SYSTEM, role=Role.OWNER),
        phone_number_id=phone_number_id or f"1065403522{next(_numbers):05d}",
        waba_id="102290129340398",
        display_phone_number=display_phone_number,
        access_token="test-access-token",
        app_secret=app_secret,
        verify_token=VERIFY_TOKEN,
        label="Sales",
    )


def channel_rows(
    workspace: Workspace, *, phone_number_id: str, display_phone_number: str
) -> WhatsAppChannel:
    """A channel's two rows written directly, without the service's checks and audit event,
    for fixtures that only need a number to hang conversations on."""
    with workspace_scope(workspace):
        channel = Channel.objects.create(
            workspace=workspace, kind=KIND, display_phone_number=display_phone_number
        )
        return WhatsAppChannel.objects.create(
            workspace=workspace,
            channel=channel,
            phone_number_id=phone_number_id,
            waba_id="200000000000001",
            access_token="test-access-token",
            app_secret=APP_SECRET,
            verify_token=VERIFY_TOKEN,
        )


def webhook_path(channel: WhatsAppChannel) -> str:
    return reverse("whatsapp_webhooks:receive", kwargs={"channel_id": channel.pk})


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode()


def now_ts(offset: int = 0) -> str:
    return str(int(time.time()) + offset)


def text_message(wamid: str, text: str, *, wa_id: str = "919876500001", ts: str | None = None):
    return {
        "from": wa_id,
        "id": wamid,
        "timestamp": ts or now_ts(),
        "type": "text",
        "text": {"body": text},
    }


def contact(wa_id: str | None = "919876500001", *, name: str = "Asha", user_id: str | None = None):
    item: dict[str, Any] = {"profile": {"name": name}}
    if wa_id:
        item["wa_id"] = wa_id
    if user_id:
        item["user_id"] = user_id
    return item


def status(wamid: str, name: str, *, ts: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": name,
        "timestamp": ts or now_ts(),
        "recipient_id": "919876500001",
        **extra,
    }


def change(channel: WhatsAppChannel, field: str = "messages", **value: Any) -> dict[str, Any]:
    return {
        "field": field,
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": channel.channel.display_phone_number,
                "phone_number_id": channel.phone_number_id,
            },
            **value,
        },
    }


def envelope(*changes_per_entry: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": changes} for changes in changes_per_entry],
    }


def post(client: Any, channel: WhatsAppChannel, data: Any, *, secret: str = APP_SECRET) -> Any:
    """POST a body signed with ``secret`` the way Meta does; ``data`` may be raw bytes."""
    body = data if isinstance(data, bytes) else encode(data)
    return client.post(
        webhook_path(channel),
        body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, secret),
    )


def register(simulator: Any, live_server_url: str, channel: WhatsAppChannel) -> None:
    """Tell the simulator about the channel's number and where its webhooks go."""
    simulator.add_number(
        phone_number_id=channel.phone_number_id,
        waba_id=channel.waba_id,
        display_phone_number=channel.channel.display_phone_number,
        access_token="test-access-token",
        app_secret=APP_SECRET,
        verify_token=VERIFY_TOKEN,
        webhook_url=live_server_url + webhook_path(channel),
    )


def wait_until(check: Any, *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy (webhooks arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout}s; last result: {result!r}")
        time.sleep(interval)
