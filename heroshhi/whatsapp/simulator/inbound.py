"""The customer's side (control API): messages, marketing preferences and calls the customer
sends, and the chats they open. Each `build_*` records the event and returns the webhook body
for the server to post outside the lock.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from . import envelopes, statuses
from .media import DEFAULT_MEDIA, media_bytes
from .records import ControlError, InMessage, Media, new_wamid, parse_digits
from .state import Simulator

INBOUND_TYPES = (
    "text",
    "button",
    "interactive",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "location",
    "reaction",
    "contacts",
    "unsupported",
)


def build_inbound(
    sim: Simulator, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Record an inbound message and return (number, webhook body, wamid)."""
    with sim.lock:
        number = sim.number(data.get("phone_number_id"))
        digits = parse_digits(data.get("from") or data.get("wa_id"), "from")
        kind = str(data.get("type") or "text")
        if kind not in INBOUND_TYPES:
            raise ControlError("Unknown message type.", {"type": f"One of {INBOUND_TYPES}."})
        customer = sim.customer(digits, data.get("name"), data.get("user_id"))
        pnid = number["phone_number_id"]
        wamid = new_wamid()
        message: dict[str, Any] = {
            "from": digits,
            "id": wamid,
            "timestamp": str(int(time.time())),
            "type": kind,
        }
        context_id = data.get("context_id")
        if not context_id and kind in ("button", "interactive", "reaction"):
            context_id = _last_outbound(sim, pnid, digits)
        if context_id and kind != "reaction":
            message["context"] = {"from": number["display_phone_number"], "id": context_id}
        summary = _inbound_content(sim, message, kind, data, pnid, context_id)
        if isinstance(data.get("referral"), dict):
            message["referral"] = {
                "source_type": "ad",
                "source_id": "120200000000000001",
                "source_url": "https://fb.me/sim-ad",
                "headline": "Chat with us",
                "body": "Tap to message us on WhatsApp",
                "media_type": "image",
                "image_url": "https://example.com/ad.png",
                "ctwa_clid": secrets.token_hex(12),
                **data["referral"],
            }
        omit = bool(data.get("omit_wa_id"))
        if omit:
            del message["from"]
        contact = envelopes.contact(
            name=customer.name, wa_id=None if omit else digits, user_id=customer.user_id
        )
        sim.windows[(pnid, digits)] = sim.now()
        sim.inbox[wamid] = InMessage(wamid, pnid, digits, kind, summary, time.time())
        change = envelopes.change(
            number, "messages", {"contacts": [contact], "messages": [message]}
        )
        return number, envelopes.envelope([(number["waba_id"], [change])]), wamid


def _last_outbound(sim: Simulator, phone_number_id: str, digits: str) -> str | None:
    for message in reversed(sim.outbox.values()):
        if message.phone_number_id == phone_number_id and message.to == digits:
            return message.wamid
    return None


def _inbound_content(
    sim: Simulator,
    message: dict[str, Any],
    kind: str,
    data: dict[str, Any],
    phone_number_id: str,
    context_id: str | None,
) -> str:
    text = str(data.get("text") or "")
    if kind == "text":
        if not text.strip():
            raise ControlError("A text message needs text.", {"text": "Required."})
        message["text"] = {"body": text}
        return text
    if kind == "button":
        label = str(data.get("button_text") or text or "Yes")
        message["button"] = {"payload": str(data.get("button_payload") or label), "text": label}
        return label
    if kind == "interactive":
        reply_kind = str(data.get("interactive_type") or "button_reply")
        if reply_kind not in ("button_reply", "list_reply"):
            raise ControlError("Invalid reply.", {"interactive_type": "button_reply or list_reply"})
        title = str(data.get("reply_title") or text or "Yes")
        reply = {"id": str(data.get("reply_id") or title.lower()), "title": title}
        if reply_kind == "list_reply" and data.get("reply_description"):
            reply["description"] = str(data["reply_description"])
        message["interactive"] = {"type": reply_kind, reply_kind: reply}
        return title
    if kind in DEFAULT_MEDIA:
        media_data: dict[str, Any] = data["media"] if isinstance(data.get("media"), dict) else {}
        default_mime, default_name = DEFAULT_MEDIA[kind]
        mime = str(media_data.get("mime_type") or default_mime)
        filename = str(media_data.get("filename") or default_name)
        media_id = str(secrets.randbelow(9 * 10**14) + 10**14)
        media = Media(media_id, phone_number_id, mime, filename, media_bytes(mime, filename))
        sim.media[media_id] = media
        item: dict[str, Any] = {"id": media_id, "mime_type": mime, "sha256": media.sha256}
        caption = str(media_data.get("caption") or text)
        if kind == "document":
            item["filename"] = filename
        if kind == "audio":
            item["voice"] = bool(media_data.get("voice", True))
        if caption and kind in ("image", "video", "document"):
            item["caption"] = caption
        message[kind] = item
        return caption or f"[{kind}] {filename}"
    if kind == "location":
        location: dict[str, Any] = (
            data["location"] if isinstance(data.get("location"), dict) else {}
        )
        try:
            item = {
                "latitude": float(location.get("latitude", 19.076)),
                "longitude": float(location.get("longitude", 72.8777)),
            }
        except (TypeError, ValueError):
            raise ControlError("Invalid location.", {"location": "Numbers."}) from None
        for key in ("name", "address", "url"):
            if location.get(key):
                item[key] = str(location[key])
        message["location"] = item
        return f"[location] {item.get('name', '')}".strip()
    if kind == "reaction":
        if not context_id:
            raise ControlError("React to which message?", {"context_id": "Required."})
        message["reaction"] = {"message_id": context_id, "emoji": text or "👍"}
        return text or "👍"
    if kind == "contacts":
        contacts = data.get("contacts")
        if not isinstance(contacts, list):
            name = text or "Ravi Kumar"
            contacts = [
                {
                    "name": {"formatted_name": name, "first_name": name.split()[0]},
                    "phones": [{"phone": "+919800000001", "type": "CELL", "wa_id": "919800000001"}],
                }
            ]
        message["contacts"] = contacts
        return "[contacts]"
    message["errors"] = [
        {
            "code": 131051,
            "title": "Message type unknown",
            "message": "Message type unknown",
            "error_data": {"details": "Message type is currently not supported."},
        }
    ]
    return "[unsupported]"


def build_user_preferences(
    sim: Simulator, data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    with sim.lock:
        number = sim.number(data.get("phone_number_id"))
        digits = parse_digits(data.get("wa_id") or data.get("from"), "wa_id")
        value = data.get("value")
        if value not in ("stop", "resume"):
            raise ControlError("Stop or resume?", {"value": "stop or resume"})
        customer = sim.customer(digits, data.get("name"), data.get("user_id"))
        sim.preferences[(number["phone_number_id"], digits)] = value
        omit = bool(data.get("omit_wa_id"))
        preference: dict[str, Any] = {
            "detail": "User requested to stop marketing messages"
            if value == "stop"
            else "User requested to resume marketing messages",
            "category": "marketing_messages",
            "value": value,
            "timestamp": int(time.time()),
        }
        if not omit:
            preference = {"wa_id": digits, **preference}
        preference["user_id"] = customer.user_id
        contact = envelopes.contact(
            name=customer.name, wa_id=None if omit else digits, user_id=customer.user_id
        )
        change = envelopes.change(
            number,
            "user_preferences",
            {"contacts": [contact], "user_preferences": [preference]},
        )
        return number, envelopes.envelope([(number["waba_id"], [change])])


def build_call(sim: Simulator, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    with sim.lock:
        number = sim.number(data.get("phone_number_id"))
        digits = parse_digits(data.get("from") or data.get("wa_id"), "from")
        event = data.get("event") or "connect"
        if event not in ("connect", "terminate"):
            raise ControlError("Unknown call event.", {"event": "connect or terminate"})
        direction = str(data.get("direction") or "USER_INITIATED").upper()
        if direction not in ("USER_INITIATED", "BUSINESS_INITIATED"):
            raise ControlError("Invalid direction.", {"direction": "USER/BUSINESS_INITIATED"})
        customer = sim.customer(digits, data.get("name"), data.get("user_id"))
        call_id = str(data.get("call_id") or "wacid." + secrets.token_urlsafe(24))
        now = int(time.time())
        call: dict[str, Any] = {
            "id": call_id,
            "from": digits if direction == "USER_INITIATED" else number["display_phone_number"],
            "to": number["display_phone_number"] if direction == "USER_INITIATED" else digits,
            "event": event,
            "timestamp": str(now),
            "direction": direction,
        }
        if event == "connect":
            call["session"] = {
                "sdp_type": "offer",
                "sdp": "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n",
            }
            if direction == "USER_INITIATED":
                sim.windows[(number["phone_number_id"], digits)] = sim.now()
        else:
            try:
                duration = int(data.get("duration") or 0)
            except (TypeError, ValueError):
                raise ControlError("Invalid duration.", {"duration": "Seconds."}) from None
            status = str(data.get("status") or "COMPLETED").upper()
            if status not in ("COMPLETED", "FAILED"):
                raise ControlError("Invalid status.", {"status": "COMPLETED or FAILED"})
            call.update(
                status=status,
                start_time=str(now - duration),
                end_time=str(now),
                duration=duration,
            )
        contact = envelopes.contact(name=customer.name, wa_id=digits, user_id=customer.user_id)
        change = envelopes.change(number, "calls", {"contacts": [contact], "calls": [call]})
        return number, envelopes.envelope([(number["waba_id"], [change])]), call_id


def customer_reads(sim: Simulator, data: dict[str, Any], status: str) -> list[str]:
    """The customer opens the chat ("read") or their phone comes online ("delivered")."""
    with sim.lock:
        number = sim.number(data.get("phone_number_id"))
        digits = parse_digits(data.get("to") or data.get("wa_id"), "to")
        before = "delivered" if status == "read" else "sent"
        touched = []
        for message in sim.outbox.values():
            if (
                message.phone_number_id == number["phone_number_id"]
                and message.to == digits
                and not message.errors
                and before in message.planned
                and status not in message.planned
            ):
                statuses.plan(sim, message, [status])
                touched.append(message.wamid)
        return touched
