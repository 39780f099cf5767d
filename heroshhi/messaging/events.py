"""What a channel tells messaging, in messaging's own words.

A channel kind's app (``whatsapp`` today) reads its provider's webhooks and hands these to
the inbound, status and call services. Nothing here knows a provider's payload shapes; the
items carry the contact's data only in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Contact:
    """Who it is about: the phone digits (no "+") and/or the channel's own user id for the
    contact (WhatsApp's business-scoped user id), for contacts who show no number."""

    phone_digits: str | None
    user_id: str | None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    provider_message_id: str
    # One of ``Message.Kind``'s values; a type we do not store as itself is "unsupported".
    kind: str
    original_type: str
    timestamp: datetime
    contact: Contact
    # Text, caption, button or reply title: what a person would read.
    text: str | None
    # Media metadata, location, button payload, reply ids, reaction, context, referral.
    payload: dict[str, Any]
    # What the opt-out keyword matcher reads: text plus button payload and reply id/title.
    keyword_candidates: tuple[str, ...]
    # Ad attribution (click-to-chat), keys as ``leads.validation.SOURCE_DETAIL_KEYS``.
    referral: dict[str, str] | None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # sent, delivered, read or failed
    timestamp: datetime
    contact: Contact
    # What we attached to the send (our message id), echoed back by the provider.
    callback_data: str | None
    error_code: int | None
    error_title: str | None


@dataclass(frozen=True, slots=True)
class UserPreference:
    """The contact switched a category of messages off (``stop``) or on (``resume``)."""

    contact: Contact
    category: str
    value: str  # stop or resume
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class CallEvent:
    call_id: str
    event: str  # connect or terminate
    # True when the contact called the business, False when the business called them.
    contact_initiated: bool
    timestamp: datetime
    contact: Contact
    status: str | None  # COMPLETED / FAILED on terminate
    duration_seconds: int | None
    start_time: datetime | None
    end_time: datetime | None


@dataclass(frozen=True, slots=True)
class TemplateStatusUpdate:
    """A message template approved, rejected, paused or disabled by the provider."""

    template_id: str | None
    name: str | None
    language: str | None
    event: str
    reason: str | None
