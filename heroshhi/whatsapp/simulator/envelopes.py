"""Webhook bodies shaped like Meta's, and their X-Hub-Signature-256."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

OBJECT = "whatsapp_business_account"


def encode(body: Any) -> bytes:
    """Compact JSON with escaped unicode: the form Meta puts on the wire (and signs)."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).encode()


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def metadata(number: dict[str, Any]) -> dict[str, str]:
    return {
        "display_phone_number": number["display_phone_number"],
        "phone_number_id": number["phone_number_id"],
    }


def contact(*, name: str, wa_id: str | None, user_id: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {"profile": {"name": name}}
    if wa_id:
        item["wa_id"] = wa_id
    if user_id:
        item["user_id"] = user_id
    return item


def change(number: dict[str, Any], field: str, value: dict[str, Any]) -> dict[str, Any]:
    """One `changes[]` item; `value` holds contacts and messages/statuses/calls/..."""
    return {
        "field": field,
        "value": {"messaging_product": "whatsapp", "metadata": metadata(number), **value},
    }


def envelope(entries: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """entries: (waba_id, changes) pairs, one `entry[]` item each."""
    return {
        "object": OBJECT,
        "entry": [{"id": waba_id, "changes": changes} for waba_id, changes in entries],
    }


def item_ids(body: Any) -> tuple[list[str], list[str]]:
    """The fields and the item ids (wamids, call ids, ...) a webhook body carries, for the log."""
    fields: list[str] = []
    ids: list[str] = []
    if not isinstance(body, dict):
        return fields, ids
    for entry in body.get("entry") or []:
        for item in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            if not isinstance(item, dict):
                continue
            if item.get("field") not in fields:
                fields.append(str(item.get("field")))
            value = item.get("value") or {}
            for message in value.get("messages") or []:
                ids.append(str(message.get("id")))
            for status in value.get("statuses") or []:
                ids.append(f"{status.get('id')}:{status.get('status')}")
            for call in value.get("calls") or []:
                ids.append(f"{call.get('id')}:{call.get('event')}")
            for preference in value.get("user_preferences") or []:
                ids.append(f"user_preferences:{preference.get('value')}")
    return fields, ids
