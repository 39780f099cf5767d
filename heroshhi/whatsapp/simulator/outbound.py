"""The business's side, the Graph API: sends and read marks, template lists, objects, media.

A send is checked (token, payload, templates, throughput and pair limits) and answered at once;
its outcome (24 h window, marketing opt-out, undeliverable) comes later as status webhooks.
"""

from __future__ import annotations

import base64
import copy
import secrets
import time
from collections import deque
from typing import Any
from urllib.parse import urlencode

from . import graph, statuses
from .records import WINDOW_SECONDS, OutMessage, new_wamid
from .state import Simulator

OUTBOX_LIMIT = 10000


def graph_send(
    sim: Simulator, phone_number_id: str, token: str | None, payload: Any
) -> tuple[int, dict[str, Any]]:
    try:
        with sim.lock:
            number = sim.numbers.get(phone_number_id)
            sim.authenticate(token, number)
            if number is None:
                raise graph.unknown_object(phone_number_id)
            if not isinstance(payload, dict):
                raise graph.invalid("The request body must be a JSON object")
            if payload.get("status") == "read":
                return _mark_read(sim, number, payload)
            send = graph.validate_send(payload, sim.templates_for(number["waba_id"]))
            _check_limits(sim, number, send.recipient)
            return 200, _accept(sim, number, send)
    except graph.GraphError as error:
        return error.http_status, error.envelope()


def _mark_read(
    sim: Simulator, number: dict[str, Any], payload: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    if payload.get("messaging_product") != "whatsapp":
        raise graph.required("messaging_product")
    message_id = payload.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise graph.required("message_id")
    sim.read_marks.append(message_id)
    inbound = sim.inbox.get(message_id)
    if inbound is not None and inbound.phone_number_id == number["phone_number_id"]:
        # Like WhatsApp: reading a message marks the earlier ones in the chat read too.
        for message in sim.inbox.values():
            if (
                message.phone_number_id == inbound.phone_number_id
                and message.wa_id == inbound.wa_id
                and message.created_at <= inbound.created_at
            ):
                message.read_by_business = True
    return 200, {"success": True}


def _check_limits(sim: Simulator, number: dict[str, Any], recipient: graph.Recipient) -> None:
    now = time.monotonic()
    limit = sim.settings["throughput_per_second"] or number["throughput_per_second"]
    sends = sim.sends.setdefault(number["phone_number_id"], deque())
    while sends and now - sends[0] >= 1.0:
        sends.popleft()
    if len(sends) >= limit:
        raise graph.GraphError(
            429,
            130429,
            "Rate limit hit",
            "Cloud API message throughput has been reached.",
            transient=True,
        )
    key = (number["phone_number_id"], recipient.digits or recipient.user_id or "")
    pair = sim.pairs.setdefault(key, deque())
    while pair and now - pair[0] >= sim.settings["pair_window_seconds"]:
        pair.popleft()
    if len(pair) >= sim.settings["pair_limit"]:
        raise graph.GraphError(
            400,
            131056,
            "(Business Account, Consumer Account) pair rate limit hit",
            "Too many messages sent from this phone number to the same phone number in a "
            "short period of time.",
            transient=True,
        )
    sends.append(now)
    pair.append(now)


def _accept(sim: Simulator, number: dict[str, Any], send: graph.Send) -> dict[str, Any]:
    recipient = send.recipient
    digits = recipient.digits or sim.user_ids.get(recipient.user_id or "")
    user_id = recipient.user_id or (sim.customer(digits).user_id if digits else None)
    message = OutMessage(
        wamid=new_wamid(),
        phone_number_id=number["phone_number_id"],
        to=digits,
        user_id=user_id,
        type=send.type,
        text=send.text,
        category=send.category,
        template=send.template,
        interactive=send.interactive,
        biz_opaque_callback_data=send.biz_opaque_callback_data,
        created_at=time.time(),
    )
    if len(sim.outbox) >= OUTBOX_LIMIT:
        sim.outbox.pop(next(iter(sim.outbox)))
    sim.outbox[message.wamid] = message
    failure = _failure(sim, number, send, digits)
    if failure:
        statuses.plan(sim, message, ["failed"], failure=failure)
    else:
        plan = ["sent"]
        if sim.settings["auto_deliver"]:
            plan.append("delivered")
            if sim.settings["auto_read"]:
                plan.append("read")
        statuses.plan(sim, message, plan)
    contact: dict[str, Any] = {"input": recipient.input}
    if digits:
        contact["wa_id"] = digits
    if recipient.user_id:
        contact["user_id"] = recipient.user_id
    return {
        "messaging_product": "whatsapp",
        "contacts": [contact],
        "messages": [{"id": message.wamid, "message_status": "accepted"}],
    }


def _failure(
    sim: Simulator, number: dict[str, Any], send: graph.Send, digits: str | None
) -> int | None:
    if digits and digits in sim.settings["undeliverable"]:
        return 131026
    key = (number["phone_number_id"], digits or "")
    if send.type != "template":
        opened = sim.windows.get(key)
        if opened is None or sim.now() - opened >= WINDOW_SECONDS:
            return 131047
    elif send.category == "marketing" and sim.preferences.get(key) == "stop":
        return 131050
    return None


def list_templates(
    sim: Simulator, waba_id: str, token: str | None, query: dict[str, str], base_url: str, path: str
) -> tuple[int, dict[str, Any]]:
    try:
        with sim.lock:
            numbers = [n for n in sim.numbers.values() if n["waba_id"] == waba_id]
            if not numbers:
                sim.authenticate(token, None)
                raise graph.unknown_object(waba_id)
            if not token or not any(
                secrets.compare_digest(token, n["access_token"]) for n in numbers
            ):
                raise graph.token_error()
            templates = sim.templates_for(waba_id)
    except graph.GraphError as error:
        return error.http_status, error.envelope()
    for key in ("name", "status", "category", "language"):
        if query.get(key):
            wanted = query[key].lower()
            templates = [t for t in templates if str(t.get(key, "")).lower() == wanted]
    try:
        limit = max(1, min(int(query.get("limit") or 25), 1000))
        start = (
            int(base64.urlsafe_b64decode(query["after"]).decode()) + 1 if query.get("after") else 0
        )
    except (ValueError, UnicodeDecodeError):
        problem = graph.invalid("Invalid paging parameter")
        return problem.http_status, problem.envelope()
    page = copy.deepcopy(templates[start : start + limit])
    fields = [f.strip() for f in query.get("fields", "").split(",") if f.strip()]
    if fields:
        page = [{k: v for k, v in t.items() if k in fields or k == "id"} for t in page]
    body: dict[str, Any] = {"data": page, "paging": {}}
    if page:
        cursor = lambda i: base64.urlsafe_b64encode(str(i).encode()).decode()  # noqa: E731
        body["paging"]["cursors"] = {
            "before": cursor(start - 1) if start else cursor(-1),
            "after": cursor(start + len(page) - 1),
        }
        if start + len(page) < len(templates):
            more = {k: v for k, v in query.items() if k != "access_token"}
            more.update(limit=str(limit), after=cursor(start + len(page) - 1))
            body["paging"]["next"] = f"{base_url}{path}?{urlencode(more)}"
    return 200, body


def graph_object(
    sim: Simulator, object_id: str, token: str | None, base_url: str
) -> tuple[int, Any]:
    try:
        with sim.lock:
            media = sim.media.get(object_id)
            number = sim.numbers.get(object_id)
            owner = sim.numbers.get(media.phone_number_id) if media else number
            sim.authenticate(token, owner)
            if media is not None:
                return 200, {
                    "messaging_product": "whatsapp",
                    "url": f"{base_url}/media-download/{media.id}",
                    "mime_type": media.mime_type,
                    "sha256": media.sha256,
                    "file_size": len(media.content),
                    "id": media.id,
                }
            if number is not None:
                return 200, {
                    "id": number["phone_number_id"],
                    "display_phone_number": number["display_phone_number"],
                    "verified_name": number["verified_name"],
                    "quality_rating": "GREEN",
                    "code_verification_status": "VERIFIED",
                    "platform_type": "CLOUD_API",
                    "throughput": {"level": "STANDARD"},
                }
            raise graph.unknown_object(object_id)
    except graph.GraphError as error:
        return error.http_status, error.envelope()


def media_download(sim: Simulator, media_id: str, token: str | None) -> tuple[int, Any, str]:
    try:
        with sim.lock:
            media = sim.media.get(media_id)
            sim.authenticate(token, sim.numbers.get(media.phone_number_id) if media else None)
            if media is None:
                raise graph.GraphError(404, 100, "Media not found", "Unknown media id")
            return 200, media.content, media.mime_type
    except graph.GraphError as error:
        return error.http_status, error.envelope(), "application/json"
