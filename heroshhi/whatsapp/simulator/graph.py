"""What Meta's Graph API checks synchronously on a send, and its error envelope."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT_LENGTH = 4096
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
SEND_TYPES = ("text", "template", "interactive", "reaction", "location", "contacts", *MEDIA_TYPES)
ERROR_DOCS = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
_PHONE = re.compile(r"^\+?[1-9]\d{6,14}$")
_BSUID = re.compile(r"^[A-Z]{2}\.(ENT\.)?\d{6,40}$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

# Codes reported asynchronously in a "failed" status: (title, details).
ASYNC_ERRORS: dict[int, tuple[str, str]] = {
    131026: (
        "Message undeliverable",
        "Unable to deliver message. The recipient may not be a WhatsApp user or may need to "
        "update the app.",
    ),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131050: (
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
        "messages on WhatsApp from your business.",
        "The recipient has stopped marketing messages from this business.",
    ),
}


@dataclass
class GraphError(Exception):
    """A synchronous Graph API error: HTTP status plus Meta's error envelope."""

    http_status: int
    code: int
    message: str
    details: str = ""
    subcode: int | None = None
    transient: bool = False

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": f"(#{self.code}) {self.message}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": self.details or self.message,
            },
            "is_transient": self.transient,
            "fbtrace_id": "A" + secrets.token_urlsafe(16),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


def invalid(details: str, code: int = 100) -> GraphError:
    return GraphError(400, code, "Invalid parameter", details)


def required(name: str) -> GraphError:
    return GraphError(400, 100, f"The parameter {name} is required.", f"{name} is required")


def token_error() -> GraphError:
    return GraphError(
        401, 190, "Invalid OAuth access token - Cannot parse access token", "Invalid access token"
    )


def unknown_object(object_id: str) -> GraphError:
    return GraphError(
        400,
        100,
        f"Unsupported request. Object with ID '{object_id}' does not exist, cannot be loaded due "
        "to missing permissions, or does not support this operation.",
        "Unknown object id",
        subcode=33,
    )


@dataclass
class Recipient:
    input: str
    digits: str | None = None
    user_id: str | None = None


@dataclass
class Send:
    """A send request that passed validation."""

    type: str
    recipient: Recipient
    text: str = ""  # what the customer would read (rendered template, caption, summary)
    category: str = "service"  # pricing category: marketing / utility / authentication / service
    template: dict[str, Any] | None = None
    interactive: dict[str, Any] | None = None
    biz_opaque_callback_data: str | None = None
    context_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_recipient(payload: dict[str, Any]) -> Recipient:
    to = payload.get("to")
    recipient = payload.get("recipient")
    if to not in (None, ""):
        if not isinstance(to, str) or not _PHONE.match(to.strip()):
            raise invalid("Invalid 'to' parameter: expected a phone number in E.164 digits")
        return Recipient(input=to, digits=to.strip().lstrip("+"))
    if recipient not in (None, ""):
        if not isinstance(recipient, str) or not _BSUID.match(recipient):
            raise invalid("Invalid 'recipient' parameter: expected a business-scoped user id")
        return Recipient(input=recipient, user_id=recipient)
    raise required("to")


def _object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise required(key)
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def validate_send(payload: dict[str, Any], templates: list[dict[str, Any]]) -> Send:
    """Check a /messages payload the way Meta does before accepting it."""
    if payload.get("messaging_product") != "whatsapp":
        raise required("messaging_product")
    recipient = parse_recipient(payload)
    kind = payload.get("type", "text")
    if kind not in SEND_TYPES:
        raise invalid(f"Param type must be one of {{{', '.join(SEND_TYPES)}}}")
    send = Send(type=kind, recipient=recipient)
    opaque = payload.get("biz_opaque_callback_data")
    if opaque is not None:
        if not isinstance(opaque, str) or len(opaque) > 512:
            raise invalid("biz_opaque_callback_data must be a string of at most 512 characters")
        send.biz_opaque_callback_data = opaque
    context = payload.get("context")
    if isinstance(context, dict) and context.get("message_id"):
        send.context_id = str(context["message_id"])

    if kind == "text":
        body = _object(payload, "text").get("body")
        if not isinstance(body, str) or not body.strip():
            raise required("text['body']")
        if len(body) > MAX_TEXT_LENGTH:
            raise invalid(f"Param text['body'] must be at most {MAX_TEXT_LENGTH} characters long.")
        send.text = body
    elif kind in MEDIA_TYPES:
        media = _object(payload, kind)
        link, media_id = media.get("link"), media.get("id")
        if not link and not media_id:
            raise invalid(f"Param {kind} must contain either 'link' or 'id'", code=131008)
        if link and not (isinstance(link, str) and re.match(r"^https?://", link)):
            raise invalid(f"Param {kind}['link'] must be a valid http(s) URL", code=131009)
        caption = _text(media.get("caption"))
        send.text = caption or _text(media.get("filename")) or f"[{kind}]"
        send.extra = {kind: media}
    elif kind == "interactive":
        send.interactive = _validate_interactive(_object(payload, "interactive"))
        send.text = _text(send.interactive.get("body", {}).get("text"))
    elif kind == "reaction":
        reaction = _object(payload, "reaction")
        if not reaction.get("message_id"):
            raise required("reaction['message_id']")
        send.text = _text(reaction.get("emoji"))
        send.extra = {"reaction": reaction}
    elif kind == "location":
        location = _object(payload, "location")
        if "latitude" not in location or "longitude" not in location:
            raise required("location['latitude']")
        send.text = _text(location.get("name")) or "[location]"
        send.extra = {"location": location}
    elif kind == "contacts":
        if not isinstance(payload.get("contacts"), list) or not payload["contacts"]:
            raise required("contacts")
        send.text = "[contacts]"
    else:
        _validate_template(send, _object(payload, "template"), templates)
    return send


def _validate_interactive(interactive: dict[str, Any]) -> dict[str, Any]:
    kind = interactive.get("type")
    body = interactive.get("body")
    if not isinstance(body, dict) or not _text(body.get("text")).strip():
        raise required("interactive['body']['text']")
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise required("interactive['action']")
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise invalid("Interactive buttons: between 1 and 3 buttons are required", 131009)
        for button in buttons:
            reply = button.get("reply") if isinstance(button, dict) else None
            if not isinstance(reply, dict) or not reply.get("id") or not reply.get("title"):
                raise required("interactive['action']['buttons'][]['reply']")
            if len(str(reply["title"])) > 20:
                raise invalid("Button title must be at most 20 characters", 131009)
    elif kind == "list":
        if not _text(action.get("button")):
            raise required("interactive['action']['button']")
        sections = action.get("sections")
        rows = [
            row
            for section in (sections if isinstance(sections, list) else [])
            if isinstance(section, dict)
            for row in section.get("rows", [])
        ]
        if not 1 <= len(rows) <= 10:
            raise invalid("Interactive list: between 1 and 10 rows are required", 131009)
    else:
        raise invalid("interactive['type'] must be one of {button, list}")
    return interactive


def placeholders(text: str) -> list[str]:
    """Distinct placeholder names in order of first use ("1", "2" or named)."""
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(text):
        if name not in seen:
            seen.append(name)
    return seen


def render(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), text)


def _component(template: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for component in template.get("components", []):
        if isinstance(component, dict) and str(component.get("type", "")).upper() == kind:
            return component
    return None


def _given(components: Any, kind: str) -> list[dict[str, Any]]:
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and str(component.get("type", "")).lower() == kind:
            parameters = component.get("parameters", [])
            return parameters if isinstance(parameters, list) else []
    return []


def _validate_template(
    send: Send, request: dict[str, Any], templates: list[dict[str, Any]]
) -> None:
    name = request.get("name")
    language = request.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not name:
        raise required("template['name']")
    if not code:
        raise required("template['language']['code']")
    template = next(
        (t for t in templates if t.get("name") == name and t.get("language") == code), None
    )
    if template is None:
        raise GraphError(
            400,
            132001,
            "Template name does not exist in the translation",
            f"template name ({name}) does not exist in {code}",
        )
    status = str(template.get("status", "")).upper()
    if status == "PAUSED":
        raise GraphError(400, 132015, "Template is Paused", f"template {name} is paused")
    if status == "DISABLED":
        raise GraphError(400, 132016, "Template is Disabled", f"template {name} is disabled")
    if status != "APPROVED":
        raise GraphError(
            400,
            132001,
            "Template name does not exist in the translation",
            f"template name ({name}) is not approved in {code}",
        )

    named = str(template.get("parameter_format", "POSITIONAL")).upper() == "NAMED"
    rendered = ""
    for kind in ("header", "body"):
        component = _component(template, kind.upper())
        text = _text(component.get("text")) if component else ""
        expected = placeholders(text)
        given = _given(request.get("components"), kind)
        if len(given) != len(expected):
            raise GraphError(
                400,
                132000,
                "Number of parameters does not match the expected number of params",
                f"{kind}: number of localizable_params ({len(given)}) does not match the "
                f"expected number of params ({len(expected)})",
            )
        values: dict[str, str] = {}
        for position, parameter in enumerate(given):
            if not isinstance(parameter, dict) or parameter.get("type", "text") != "text":
                raise invalid(f"{kind} parameter {position + 1} must be of type text", 132012)
            value = _text(parameter.get("text"))
            if not value.strip():
                raise invalid(f"{kind} parameter {position + 1} has no text", 131008)
            key = str(parameter.get("parameter_name", "")) if named else str(position + 1)
            values[key] = value
        if named and set(values) != set(expected):
            raise GraphError(
                400,
                132000,
                "Number of parameters does not match the expected number of params",
                f"{kind}: expected parameters named {sorted(expected)}",
            )
        if kind == "body":
            rendered = render(text, values)

    send.text = rendered
    send.category = str(template.get("category", "MARKETING")).lower()
    buttons = _component(template, "BUTTONS")
    send.template = {
        "name": name,
        "language": code,
        "category": template.get("category"),
        "id": template.get("id"),
        "buttons": [b.get("text") for b in buttons.get("buttons", [])] if buttons else [],
    }
