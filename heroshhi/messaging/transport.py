"""The small interface messaging needs from a provider; ``heroshhi.whatsapp.transport``
implements it over the Graph API.

Messaging owns the rules (window, opt-out, templates) and speaks only to this interface, so
the domain never builds provider URLs and another channel kind can join later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from heroshhi.whatsapp.models import WhatsAppChannel

_WHATSAPP_TRANSPORT = "heroshhi.whatsapp.transport.GraphTransport"


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


class Transport(Protocol):
    def send(self, channel: WhatsAppChannel, payload: dict[str, Any]) -> str:
        """Hand one message to the provider; returns the provider's message id."""
        ...

    def fetch_templates(self, channel: WhatsAppChannel) -> list[dict[str, Any]]:
        """Every message template of the channel's account, as the provider lists them."""
        ...

    def fetch_media(self, channel: WhatsAppChannel, media_id: str) -> dict[str, Any]:
        """A media item's metadata (url, mime_type, sha256, file_size)."""
        ...

    def download_media(self, channel: WhatsAppChannel, url: str, *, max_bytes: int) -> bytes:
        """The bytes behind a media URL from ``fetch_media`` (refused above ``max_bytes``)."""
        ...

    def mark_read(self, channel: WhatsAppChannel, provider_message_id: str) -> None:
        """Tell the contact their message was read."""
        ...


def transport_for(channel: WhatsAppChannel) -> Transport:
    """The transport that serves this channel (WhatsApp Cloud API for every channel today)."""
    transport_class = import_string(_WHATSAPP_TRANSPORT)
    transport: Transport = transport_class()
    return transport
