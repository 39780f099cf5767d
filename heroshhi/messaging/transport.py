"""What messaging needs from a channel's provider: the transport protocol.

Messaging owns the rules (window, opt-out, templates) and speaks only to this protocol, so
the domain never builds a provider's URLs or payloads and another channel kind can join
later. A channel kind's app implements it and registers it (``messaging.channels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from heroshhi.messaging.models import Channel


class TransportError(Exception):
    """A provider refusal or a failure to reach it.

    ``title`` is a short label (an error title or "timeout"), never a request or response
    body, so the exception is safe to log. ``transient`` says whether a retry can help;
    ``retry_after`` (seconds) is the provider's hint when it gave one.
    """

    def __init__(
        self,
        *,
        code: int | None,
        title: str,
        transient: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"provider error code={code} transient={transient}: {title}")
        self.code = code
        self.title = title
        self.transient = transient
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whom a message goes to: their E.164 number, else the channel's user id for them."""

    phone: str | None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateCall:
    """An approved template filled in: its values in body order, and the placeholders'
    names when they are named rather than numbered."""

    name: str
    language: str
    variables: Sequence[str]
    parameter_names: Sequence[str] = ()


class Transport(Protocol):
    """``reference`` is our message id; the provider echoes it in its status callbacks."""

    def send_text(
        self,
        channel: Channel,
        *,
        to: Recipient,
        text: str,
        reference: str,
        quick_replies: Sequence[str] = (),
    ) -> str:
        """A free-form message, with reply buttons when ``quick_replies`` are given; returns
        the provider's message id."""
        ...

    def send_template(
        self, channel: Channel, *, to: Recipient, template: TemplateCall, reference: str
    ) -> str:
        """An approved template; returns the provider's message id."""
        ...

    def fetch_templates(self, channel: Channel) -> list[dict[str, Any]]:
        """Every message template of the channel's account, as the provider lists them."""
        ...

    def fetch_media(self, channel: Channel, media_id: str) -> dict[str, Any]:
        """A media item's metadata (url, mime_type, sha256, file_size)."""
        ...

    def download_media(self, channel: Channel, url: str, *, max_bytes: int) -> bytes:
        """The bytes behind a media URL from ``fetch_media`` (refused above ``max_bytes``)."""
        ...

    def mark_read(self, channel: Channel, provider_message_id: str) -> None:
        """Tell the contact their message was read."""
        ...
