"""The WhatsApp Cloud API (Meta Graph API) behind messaging's transport protocol.

Every call goes through the egress client (allow-listed hosts, TLS 1.3, timeouts) to
``settings.WHATSAPP_GRAPH_BASE_URL`` + the API version: Meta in production, the bundled
simulator in development and tests. Errors are mapped by the Graph envelope's ``error.code``
(reference/protocols.md §1.1, §1.9); HTTP 429, 5xx, timeouts and connection failures are
transient. Logs name the operation, the HTTP status and the error code only: never tokens,
URLs with ids, request bodies or response bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx
from django.conf import settings

from heroshhi.core.egress import EgressDenied, egress_client
from heroshhi.messaging.errors import describe
from heroshhi.messaging.models import Channel
from heroshhi.messaging.transport import Recipient, TemplateCall, TransportError
from heroshhi.whatsapp.models import WhatsAppChannel

logger = logging.getLogger(__name__)

TEMPLATE_PAGE_SIZE = 100
# A WhatsApp Business Account rarely has more than a few hundred templates; stop paging
# well after that rather than following a cursor for ever.
TEMPLATE_PAGES_MAX = 50
_TEMPLATE_FIELDS = "name,status,category,language,components,parameter_format,id"


def _base_url() -> str:
    return f"{settings.WHATSAPP_GRAPH_BASE_URL.rstrip('/')}/{settings.WHATSAPP_GRAPH_API_VERSION}"


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _error_from(response: httpx.Response, *, operation: str) -> TransportError:
    """The Graph error envelope as a TransportError; falls back on the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    provider_transient = error.get("is_transient") is True
    status = response.status_code
    info = describe(code, provider_transient=provider_transient)
    transient = info.transient or status == 429 or status >= 500
    title = error.get("error_user_title") or error.get("type") or f"HTTP {status}"
    logger.warning(
        "whatsapp graph error op=%s status=%s code=%s transient=%s",
        operation,
        status,
        code,
        transient,
    )
    return TransportError(
        code=code,
        title=str(title)[:100],
        transient=transient,
        retry_after=_retry_after(response),
    )


def _recipient(to: Recipient) -> dict[str, str]:
    if to.phone:
        return {"recipient_type": "individual", "to": to.phone.lstrip("+")}
    if to.user_id:
        return {"recipient_type": "individual", "recipient": to.user_id}
    raise TransportError(code=None, title="no recipient", transient=False)


def text_payload(
    *, to: Recipient, text: str, reference: str, quick_replies: Sequence[str] = ()
) -> dict[str, Any]:
    """The Cloud API body of a text, or of a text with reply buttons (protocols.md §1.6)."""
    payload: dict[str, Any] = {**_recipient(to), "biz_opaque_callback_data": reference}
    if quick_replies:
        buttons = [
            {"type": "reply", "reply": {"id": f"qr{index + 1}", "title": title}}
            for index, title in enumerate(quick_replies)
        ]
        return {
            **payload,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": text},
                "action": {"buttons": buttons},
            },
        }
    return {**payload, "type": "text", "text": {"body": text, "preview_url": False}}


def template_payload(*, to: Recipient, template: TemplateCall, reference: str) -> dict[str, Any]:
    """The Cloud API body of an approved template with its body values (protocols.md §1.6)."""
    parameters = []
    for index, value in enumerate(template.variables):
        parameter = {"type": "text", "text": value}
        if index < len(template.parameter_names):
            parameter["parameter_name"] = template.parameter_names[index]
        parameters.append(parameter)
    body: dict[str, Any] = {
        "name": template.name,
        "language": {"code": template.language, "policy": "deterministic"},
    }
    if parameters:
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {
        **_recipient(to),
        "biz_opaque_callback_data": reference,
        "type": "template",
        "template": body,
    }


def _details(channel: Channel) -> WhatsAppChannel:
    """The channel's WhatsApp row: loaded with it where messaging selects ``with_details``,
    else read here."""
    details: WhatsAppChannel = channel.whatsapp
    return details


class GraphTransport:
    """Implements ``heroshhi.messaging.transport.Transport`` for WhatsApp channels."""

    def _request(
        self,
        channel: WhatsAppChannel,
        method: str,
        path: str,
        *,
        operation: str,
        json: dict[str, Any] | None = None,
        params: dict[str, str | int] | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {channel.access_token}"}
        try:
            with egress_client(purpose=f"whatsapp.{operation}") as client:
                response = client.request(
                    method, f"{_base_url()}/{path}", headers=headers, json=json, params=params
                )
        except httpx.TimeoutException:
            logger.warning("whatsapp graph timeout op=%s", operation)
            raise TransportError(code=None, title="timeout", transient=True) from None
        except EgressDenied:
            # A configuration mistake (base URL off the allow-list): retrying cannot help.
            raise TransportError(code=None, title="egress denied", transient=False) from None
        except httpx.HTTPError as exc:
            logger.warning(
                "whatsapp graph unreachable op=%s error=%s", operation, type(exc).__name__
            )
            raise TransportError(code=None, title="network error", transient=True) from None
        if response.status_code >= 300:
            raise _error_from(response, operation=operation)
        try:
            body = response.json()
        except ValueError:
            raise TransportError(code=None, title="unreadable response", transient=True) from None
        if not isinstance(body, dict):
            raise TransportError(code=None, title="unreadable response", transient=True)
        return body

    def send_text(
        self,
        channel: Channel,
        *,
        to: Recipient,
        text: str,
        reference: str,
        quick_replies: Sequence[str] = (),
    ) -> str:
        payload = text_payload(to=to, text=text, reference=reference, quick_replies=quick_replies)
        return self.send(_details(channel), payload)

    def send_template(
        self, channel: Channel, *, to: Recipient, template: TemplateCall, reference: str
    ) -> str:
        payload = template_payload(to=to, template=template, reference=reference)
        return self.send(_details(channel), payload)

    def send(self, channel: WhatsAppChannel, payload: dict[str, Any]) -> str:
        """Hand one Cloud API message body to Meta; the wamid it accepted it under."""
        body = self._request(
            channel,
            "POST",
            f"{channel.phone_number_id}/messages",
            operation="send",
            json={"messaging_product": "whatsapp", **payload},
        )
        messages = body.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            provider_id = messages[0].get("id")
            if isinstance(provider_id, str) and provider_id:
                return provider_id
        # Accepted but without an id: do not retry blindly, it may already be on its way.
        raise TransportError(code=None, title="accepted without a message id", transient=False)

    def fetch_templates(self, channel: Channel) -> list[dict[str, Any]]:
        details = _details(channel)
        templates: list[dict[str, Any]] = []
        after: str | None = None
        for _page in range(TEMPLATE_PAGES_MAX):
            params: dict[str, str | int] = {"fields": _TEMPLATE_FIELDS, "limit": TEMPLATE_PAGE_SIZE}
            if after:
                params["after"] = after
            body = self._request(
                details,
                "GET",
                f"{details.waba_id}/message_templates",
                operation="templates",
                params=params,
            )
            data = body.get("data")
            if isinstance(data, list):
                templates.extend(item for item in data if isinstance(item, dict))
            # Follow the cursor, not the "next" URL: the URL could point anywhere.
            paging = body.get("paging")
            paging = paging if isinstance(paging, dict) else {}
            cursors = paging.get("cursors")
            cursors = cursors if isinstance(cursors, dict) else {}
            next_after = cursors.get("after") if paging.get("next") else None
            if not isinstance(next_after, str) or not next_after:
                break
            after = next_after
        return templates

    def fetch_media(self, channel: Channel, media_id: str) -> dict[str, Any]:
        if not media_id.isdigit():
            raise TransportError(code=None, title="invalid media id", transient=False)
        return self._request(_details(channel), "GET", media_id, operation="media")

    def download_media(self, channel: Channel, url: str, *, max_bytes: int) -> bytes:
        # The URL came from Meta; the egress client still checks its host against the
        # allow-list, so a forged URL cannot make us fetch anything else.
        headers = {"Authorization": f"Bearer {_details(channel).access_token}"}
        try:
            with (
                egress_client(purpose="whatsapp.media_download") as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code >= 300:
                    raise TransportError(
                        code=None,
                        title=f"media download answered {response.status_code}",
                        transient=response.status_code >= 500,
                    )
                content = bytearray()
                for chunk in response.iter_bytes():
                    content.extend(chunk)
                    if len(content) > max_bytes:
                        raise TransportError(code=None, title="media too large", transient=False)
                return bytes(content)
        except httpx.TimeoutException:
            raise TransportError(code=None, title="timeout", transient=True) from None
        except EgressDenied:
            raise TransportError(code=None, title="egress denied", transient=False) from None
        except httpx.HTTPError as exc:
            logger.warning("whatsapp media unreachable error=%s", type(exc).__name__)
            raise TransportError(code=None, title="network error", transient=True) from None

    def mark_read(self, channel: Channel, provider_message_id: str) -> None:
        details = _details(channel)
        self._request(
            details,
            "POST",
            f"{details.phone_number_id}/messages",
            operation="read",
            json={
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": provider_message_id,
            },
        )
