"""Reads a WhatsApp Cloud API webhook body into messaging's items (protocols.md §1.5, §1.13).

One POST may hold several entries, each with several changes, each with several messages,
statuses, preferences or calls: ``parse_delivery`` walks every level and returns one item per
thing that happened, as the channel-neutral types of ``heroshhi.messaging.events`` (plus
``Unknown`` and ``ItemError``, which only the inbox reads), each with its JSON path so a
set-aside item can be found again in the stored body. A malformed item, or one with a value
longer than the column it goes to (``COLUMN_BOUNDS``), becomes an ``ItemError`` and the others
still count; only a body that is not a WhatsApp webhook at all raises ``PayloadError``.

Nothing here touches the database; the items carry the contact's data only in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from heroshhi.core.text import JsonRefused, load_json
from heroshhi.messaging.events import (
    CallEvent,
    Contact,
    InboundMessage,
    StatusUpdate,
    TemplateStatusUpdate,
    UserPreference,
)

WHATSAPP_OBJECT = "whatsapp_business_account"

# Message types we store as themselves; every other type is kept as "unsupported".
KNOWN_MESSAGE_KINDS = frozenset(
    {
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "reaction",
        "button",
        "interactive",
        "system",
    }
)
_MEDIA_KINDS = frozenset({"image", "video", "audio", "document", "sticker"})
_MEDIA_KEYS = ("id", "mime_type", "sha256", "filename", "voice", "animated")
_LOCATION_KEYS = ("latitude", "longitude", "name", "address", "url")
_REFERRAL_KEYS = (
    "source_url",
    "source_id",
    "source_type",
    "headline",
    "body",
    "media_type",
    "image_url",
    "video_url",
    "thumbnail_url",
    "ctwa_clid",
)
# "played" is a voice message listened to: for our purposes it is read.
_STATUS_ALIASES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "played": "read",
    "failed": "failed",
}
_TEXT_MAX = 4096 * 4
# Values stored in a bounded column, by the item field they come from: longer ones are
# refused here rather than by the database halfway through a delivery's write.
COLUMN_BOUNDS = {
    "provider_message_id": 128,  # Message.provider_message_id, Call.provider_call_id
}
# Call.duration_seconds is a PostgreSQL integer.
_DURATION_MAX = 2**31 - 1


class PayloadError(ValueError):
    """The body is not a WhatsApp webhook we can read; ``reason`` is a short code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Unknown:
    """A change field or item kind we do not act on; counted, never an error."""

    what: str


@dataclass(frozen=True, slots=True)
class ItemError:
    """An item we could not read; ``where`` is a JSON path, ``reason`` a short code."""

    where: str
    reason: str


Item = (
    InboundMessage
    | StatusUpdate
    | UserPreference
    | CallEvent
    | TemplateStatusUpdate
    | Unknown
    | ItemError
)


@dataclass(slots=True)
class ParsedDelivery:
    items: list[Item] = field(default_factory=list)
    # Each item's JSON path in the body, by position ("entry[0].changes[1].messages[2]").
    paths: list[str] = field(default_factory=list)
    # Changes addressed to another phone number than the channel's (skipped).
    foreign_numbers: int = 0

    def add(self, path: str, item: Item) -> None:
        self.items.append(item)
        self.paths.append(path)


class _ItemInvalid(ValueError):
    pass


# Entry point -----------------------------------------------------------------------------


def load_body(body: bytes | str) -> dict[str, Any]:
    """The JSON object of a webhook body, or a PayloadError saying why not ("invalid_json",
    "too_deep", "not_an_object", ...)."""
    try:
        data = load_json(body)
    except JsonRefused as exc:
        raise PayloadError(exc.code) from None
    if not isinstance(data, dict):
        raise PayloadError("not_an_object")
    if data.get("object") != WHATSAPP_OBJECT:
        raise PayloadError("wrong_object")
    if not isinstance(data.get("entry"), list):
        raise PayloadError("missing_entry")
    return data


def parse_delivery(data: Mapping[str, Any], *, phone_number_id: str) -> ParsedDelivery:
    """Every item of every entry and change. Changes that name another phone number than
    the channel's are skipped and counted: the signature proves the app, not the number."""
    parsed = ParsedDelivery()
    for e_index, entry in enumerate(data.get("entry") or []):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            parsed.add(f"entry[{e_index}]", ItemError(f"entry[{e_index}]", "missing_changes"))
            continue
        for c_index, change in enumerate(changes):
            where = f"entry[{e_index}].changes[{c_index}]"
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                parsed.add(where, ItemError(where, "missing_value"))
                continue
            value = change["value"]
            number = _metadata_number(value)
            if number is not None and number != phone_number_id:
                parsed.foreign_numbers += 1
                continue
            for path, item in _change_items(str(change.get("field") or ""), value, where):
                parsed.add(path, item)
    return parsed


def item_at(parsed: ParsedDelivery, path: str) -> Item | None:
    """The item read from ``path`` of the body, if the body still yields one there."""
    for item_path, item in zip(parsed.paths, parsed.items, strict=True):
        if item_path == path:
            return item
    return None


def _metadata_number(value: Mapping[str, Any]) -> str | None:
    metadata = value.get("metadata")
    if isinstance(metadata, dict) and metadata.get("phone_number_id") is not None:
        return str(metadata["phone_number_id"])
    return None


def _change_items(
    field_name: str, value: Mapping[str, Any], where: str
) -> Iterator[tuple[str, Item]]:
    if field_name == "messages":
        contacts = _contacts(value.get("contacts"))
        yield from _each(value, "messages", where, lambda raw: _message(raw, contacts))
        yield from _each(value, "statuses", where, lambda raw: _status(raw, contacts))
    elif field_name == "user_preferences":
        contacts = _contacts(value.get("contacts"))
        yield from _each(value, "user_preferences", where, lambda raw: _preference(raw, contacts))
    elif field_name == "calls":
        contacts = _contacts(value.get("contacts"))
        yield from _each(value, "calls", where, lambda raw: _call(raw, contacts))
        # Business-initiated call progress (RINGING/ACCEPTED/REJECTED) is not acted on.
        yield from _each(value, "statuses", where, lambda raw: Unknown("call_status"))
    elif field_name == "message_template_status_update":
        try:
            yield where, _template_status(value)
        except _ItemInvalid as exc:
            yield where, ItemError(where, str(exc))
    else:
        yield where, Unknown(f"field:{field_name or 'missing'}"[:60])


def _each(value: Mapping[str, Any], key: str, where: str, read: Any) -> Iterator[tuple[str, Item]]:
    raw_items = value.get(key)
    if raw_items is None:
        return
    if not isinstance(raw_items, list):
        yield f"{where}.{key}", ItemError(f"{where}.{key}", "not_a_list")
        return
    for index, raw in enumerate(raw_items):
        path = f"{where}.{key}[{index}]"
        try:
            if not isinstance(raw, dict):
                raise _ItemInvalid("not_an_object")
            yield path, read(raw)
        except _ItemInvalid as exc:
            yield path, ItemError(path, str(exc))


# Field readers ---------------------------------------------------------------------------


def _text(raw: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise _ItemInvalid(f"missing_{key}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _ItemInvalid(f"invalid_{key}")
    return str(value)[:_TEXT_MAX]


def _provider_id(raw: Mapping[str, Any], key: str = "id") -> str:
    """A provider's id for a row, refused when longer than its column."""
    value = _text(raw, key, required=True) or ""
    if len(value) > COLUMN_BOUNDS["provider_message_id"]:
        raise _ItemInvalid(f"too_long:{key}")
    return value


def _timestamp(raw: Mapping[str, Any], key: str = "timestamp", *, required: bool = True) -> Any:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise _ItemInvalid(f"missing_{key}")
        return None
    try:
        seconds = int(value)
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise _ItemInvalid(f"invalid_{key}") from None


def _sub(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _pick(raw: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {
        key: raw[key]
        for key in keys
        if key in raw and isinstance(raw[key], str | int | float | bool)
    }


def _contacts(raw: object) -> list[Contact]:
    contacts: list[Contact] = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        profile = _sub(item, "profile")
        name = profile.get("name")
        contacts.append(
            Contact(
                phone_digits=_digits(item.get("wa_id")),
                user_id=_plain(item.get("user_id")),
                name=name.strip()[:200] or None if isinstance(name, str) else None,
            )
        )
    return contacts


def _digits(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    digits = value.strip().lstrip("+")
    return digits if digits.isdigit() and 6 <= len(digits) <= 15 else None


def _plain(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if text and len(text) <= 128 and not any(c.isspace() for c in text) else None


def _sender(
    wa_id: object, user_id: object, contacts: list[Contact], *, required: bool = True
) -> Contact:
    """The contact an item is about: by phone digits, else by BSUID, else the only contact."""
    phone, bsuid = _digits(wa_id), _plain(user_id)
    for contact in contacts:
        if (phone and contact.phone_digits == phone) or (bsuid and contact.user_id == bsuid):
            return Contact(
                phone_digits=phone or contact.phone_digits,
                user_id=bsuid or contact.user_id,
                name=contact.name,
            )
    if phone is None and bsuid is None and len(contacts) == 1:
        return contacts[0]
    if phone is None and bsuid is None and required:
        raise _ItemInvalid("missing_sender")
    return Contact(phone_digits=phone, user_id=bsuid)


def _message(raw: Mapping[str, Any], contacts: list[Contact]) -> InboundMessage:
    wamid = _provider_id(raw)
    original_type = _text(raw, "type", required=True) or ""
    timestamp = _timestamp(raw)
    contact = _sender(raw.get("from"), raw.get("from_user_id"), contacts)
    kind = original_type if original_type in KNOWN_MESSAGE_KINDS else "unsupported"
    text, payload, candidates = _content(kind, raw)
    if kind == "unsupported":
        payload["type"] = original_type[:40]
        errors = raw.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            payload["error_code"] = errors[0].get("code")
    context = _sub(raw, "context")
    if context.get("id"):
        payload["context_id"] = str(context["id"])[:128]
    referral = _pick(_sub(raw, "referral"), _REFERRAL_KEYS) or None
    if referral:
        payload["referral"] = referral
    return InboundMessage(
        provider_message_id=str(wamid),
        kind=kind,
        original_type=original_type[:40],
        timestamp=timestamp,
        contact=contact,
        text=text,
        payload=payload,
        keyword_candidates=tuple(c for c in candidates if c),
        referral={k: str(v) for k, v in referral.items()} if referral else None,
    )


def _content(kind: str, raw: Mapping[str, Any]) -> tuple[str | None, dict[str, Any], list[str]]:
    """(readable text, payload, opt-out keyword candidates) for one message type."""
    sub = _sub(raw, kind)
    if kind == "text":
        body = _text(sub, "body")
        return body, {}, [body or ""]
    if kind in _MEDIA_KINDS:
        return _text(sub, "caption"), {"media": _pick(sub, _MEDIA_KEYS)}, []
    if kind == "location":
        return None, {"location": _pick(sub, _LOCATION_KEYS)}, []
    if kind == "button":
        button = {"payload": _text(sub, "payload"), "text": _text(sub, "text")}
        return button["text"], {"button": button}, [button["payload"] or "", button["text"] or ""]
    if kind == "interactive":
        return _interactive(sub)
    if kind == "reaction":
        reaction = {"message_id": _text(sub, "message_id"), "emoji": _text(sub, "emoji")}
        return reaction["emoji"], {"reaction": reaction}, []
    if kind == "contacts":
        cards = raw.get("contacts")
        return None, {"contacts": cards if isinstance(cards, list) else []}, []
    if kind == "system":
        return _text(sub, "body"), {"system": {"type": _text(sub, "type")}}, []
    return None, {}, []


def _interactive(sub: Mapping[str, Any]) -> tuple[str | None, dict[str, Any], list[str]]:
    reply_type = _text(sub, "type") or ""
    reply = _sub(sub, reply_type)
    if reply_type in ("button_reply", "list_reply"):
        picked = {"type": reply_type, "id": _text(reply, "id"), "title": _text(reply, "title")}
        return picked["title"], {"interactive": picked}, [picked["id"] or "", picked["title"] or ""]
    if reply_type == "nfm_reply":
        picked = {"type": reply_type, "name": _text(reply, "name")}
        picked["response_json"] = _text(reply, "response_json")
        return _text(reply, "body"), {"interactive": picked}, []
    if reply_type == "call_permission_reply":
        picked = {"type": reply_type, "response": _text(reply, "response")}
        return None, {"interactive": picked}, []
    return None, {"interactive": {"type": reply_type[:40]}}, []


def _status(raw: Mapping[str, Any], contacts: list[Contact]) -> StatusUpdate | Unknown:
    wamid = _provider_id(raw)
    name = _text(raw, "status", required=True) or ""
    if raw.get("type") == "call":
        return Unknown("call_status")
    status = _STATUS_ALIASES.get(name)
    if status is None:
        return Unknown(f"status:{name[:30]}")
    timestamp = _timestamp(raw)
    code: int | None = None
    title: str | None = None
    errors = raw.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        raw_code = errors[0].get("code")
        code = (
            int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else None
        )
        title = _text(errors[0], "title")
    return StatusUpdate(
        provider_message_id=str(wamid),
        status=status,
        timestamp=timestamp,
        contact=_sender(
            raw.get("recipient_id"), raw.get("recipient_user_id"), contacts, required=False
        ),
        callback_data=_text(raw, "biz_opaque_callback_data"),
        error_code=code,
        error_title=title[:200] if title else None,
    )


def _preference(raw: Mapping[str, Any], contacts: list[Contact]) -> UserPreference:
    value = _text(raw, "value", required=True)
    if value not in ("stop", "resume"):
        raise _ItemInvalid("invalid_value")
    return UserPreference(
        contact=_sender(raw.get("wa_id"), raw.get("user_id"), contacts),
        category=_text(raw, "category") or "marketing_messages",
        value=value,
        timestamp=_timestamp(raw),
    )


def _call(raw: Mapping[str, Any], contacts: list[Contact]) -> CallEvent:
    call_id = _provider_id(raw)
    event = _text(raw, "event", required=True)
    if event not in ("connect", "terminate"):
        raise _ItemInvalid("invalid_event")
    contact_initiated = (_text(raw, "direction") or "USER_INITIATED") == "USER_INITIATED"
    # The contact is the caller on a user-initiated call and the callee otherwise.
    who = raw.get("from") if contact_initiated else raw.get("to")
    who_user = raw.get("from_user_id") if contact_initiated else raw.get("to_user_id")
    duration = raw.get("duration")
    try:
        duration_seconds = None if duration is None else max(0, int(duration))
    except (TypeError, ValueError, OverflowError):
        raise _ItemInvalid("invalid_duration") from None
    if duration_seconds is not None and duration_seconds > _DURATION_MAX:
        raise _ItemInvalid("too_large:duration")
    return CallEvent(
        call_id=str(call_id),
        event=str(event),
        contact_initiated=contact_initiated,
        timestamp=_timestamp(raw),
        contact=_sender(who, who_user, contacts),
        status=_text(raw, "status"),
        duration_seconds=duration_seconds,
        start_time=_timestamp(raw, "start_time", required=False),
        end_time=_timestamp(raw, "end_time", required=False),
    )


def _template_status(value: Mapping[str, Any]) -> TemplateStatusUpdate:
    return TemplateStatusUpdate(
        template_id=_text(value, "message_template_id"),
        name=_text(value, "message_template_name"),
        language=_text(value, "message_template_language"),
        event=_text(value, "event", required=True) or "",
        reason=_text(value, "reason"),
    )
