"""The simulator's memory: numbers, templates, customers, windows, messages, media, webhook log.

Everything lives in one `Simulator` object guarded by one lock. Webhook POSTs never happen while
the lock is held (the app may call the Graph API back from inside its webhook handler).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import envelopes, graph
from .defaults import (
    DEFAULT_SETTINGS,
    DEFAULT_THROUGHPUT_PER_SECOND,
    default_templates,
    template_id,
)
from .media import DEFAULT_MEDIA, media_bytes

if TYPE_CHECKING:
    from .dispatcher import Dispatcher

WINDOW_SECONDS = 24 * 60 * 60
LOG_LIMIT = 5000
OUTBOX_LIMIT = 10000
STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}
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
NUMBER_FIELDS = (
    "phone_number_id",
    "waba_id",
    "display_phone_number",
    "access_token",
    "app_secret",
)
_COUNTRIES = {"1": "US", "44": "GB", "91": "IN", "971": "AE", "65": "SG", "61": "AU", "49": "DE"}


class ControlError(Exception):
    """Bad input to the control API: answered 400 (or 404) with a typed envelope."""

    def __init__(self, message: str, fields: dict[str, str] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status

    def envelope(self) -> dict[str, Any]:
        code = "not_found" if self.status == 404 else "invalid"
        return {"error": {"code": code, "message": self.message, "fields": self.fields}}


def new_wamid() -> str:
    return "wamid." + base64.b64encode(b"HBgM" + secrets.token_bytes(24)).decode().rstrip("=")


def derive_user_id(digits: str) -> str:
    """A business-scoped user id (BSUID) like Meta's: country code, dot, digits."""
    country = next(
        (
            iso
            for prefix, iso in sorted(_COUNTRIES.items(), key=lambda p: -len(p[0]))
            if digits.startswith(prefix)
        ),
        "ZZ",
    )
    return f"{country}.{int(hashlib.sha256(digits.encode()).hexdigest()[:16], 16)}"


@dataclass
class Customer:
    wa_id: str
    user_id: str
    name: str


@dataclass
class OutMessage:
    wamid: str
    phone_number_id: str
    to: str | None
    user_id: str | None
    type: str
    text: str
    category: str
    template: dict[str, Any] | None
    interactive: dict[str, Any] | None
    biz_opaque_callback_data: str | None
    created_at: float
    status: str = "accepted"
    errors: list[dict[str, Any]] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    last_due: float = 0.0  # monotonic time of the last scheduled status

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": "out",
            "wamid": self.wamid,
            "phone_number_id": self.phone_number_id,
            "to": self.to,
            "user_id": self.user_id,
            "type": self.type,
            "text": self.text,
            "category": self.category,
            "template": self.template,
            "interactive": self.interactive,
            "biz_opaque_callback_data": self.biz_opaque_callback_data,
            "status": "failed" if self.errors else self.status,
            "error_code": self.errors[0]["code"] if self.errors else None,
            "timestamp": int(self.created_at),
        }


@dataclass
class InMessage:
    wamid: str
    phone_number_id: str
    wa_id: str
    type: str
    text: str
    created_at: float
    read_by_business: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": "in",
            "wamid": self.wamid,
            "phone_number_id": self.phone_number_id,
            "from": self.wa_id,
            "type": self.type,
            "text": self.text,
            "status": "read" if self.read_by_business else "received",
            "timestamp": int(self.created_at),
        }


@dataclass
class Media:
    id: str
    phone_number_id: str
    mime_type: str
    filename: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class StatusJob:
    """A status webhook to emit once due; the body is built at send time."""

    generation: int
    phone_number_id: str
    wamid: str
    status: str


class Simulator:
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.lock = threading.RLock()
        self.numbers: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, list[dict[str, Any]]] = {}
        self.generation = 0
        self.dispatcher: Dispatcher | None = None
        self._config = copy.deepcopy(config or {})
        self._reset_runtime()
        self.load_config(self._config)

    # -- configuration -------------------------------------------------------------------

    def _reset_runtime(self) -> None:
        self.settings: dict[str, Any] = copy.deepcopy(DEFAULT_SETTINGS)
        self.clock_offset = 0.0
        self.customers: dict[str, Customer] = {}
        self.user_ids: dict[str, str] = {}  # BSUID -> digits
        self.windows: dict[tuple[str, str], float] = {}  # (number, digits) -> last inbound
        self.preferences: dict[tuple[str, str], str] = {}  # (number, digits) -> stop/resume
        self.outbox: dict[str, OutMessage] = {}
        self.inbox: dict[str, InMessage] = {}
        self.media: dict[str, Media] = {}
        self.webhook_log: deque[dict[str, Any]] = deque(maxlen=LOG_LIMIT)
        self.read_marks: list[str] = []
        self._sends: dict[str, deque[float]] = {}
        self._pairs: dict[tuple[str, str], deque[float]] = {}
        self._log_seq = 0

    def load_config(self, config: dict[str, Any]) -> None:
        for number in config.get("numbers", []):
            self.upsert_number(number)
        for waba_id, templates in (config.get("templates") or {}).items():
            self.set_templates(waba_id, templates)
        if config.get("settings"):
            self.configure(config["settings"])

    def upsert_number(self, data: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ControlError("A number must be a JSON object.")
        with self.lock:
            current = self.numbers.get(str(data.get("phone_number_id", "")), {})
            merged = {**current, **{k: v for k, v in data.items() if v is not None}}
            missing = {
                name: "This field is required." for name in NUMBER_FIELDS if not merged.get(name)
            }
            if missing:
                raise ControlError("The number is incomplete.", missing)
            number: dict[str, Any] = {name: str(merged[name]) for name in NUMBER_FIELDS}
            # Webhook metadata carries digits only, whatever formatting was configured.
            number["display_phone_number"] = "".join(
                ch for ch in number["display_phone_number"] if ch.isdigit()
            )
            number["webhook_url"] = str(merged.get("webhook_url") or "")
            number["verify_token"] = str(merged.get("verify_token") or "")
            number["verified_name"] = str(merged.get("verified_name") or "Heroshhi Demo")
            try:
                number["throughput_per_second"] = int(
                    merged.get("throughput_per_second") or DEFAULT_THROUGHPUT_PER_SECOND
                )
            except (TypeError, ValueError):
                raise ControlError(
                    "Invalid number.", {"throughput_per_second": "Must be an integer."}
                ) from None
            self.numbers[number["phone_number_id"]] = number
            return public_number(number)

    def set_templates(self, waba_id: str, templates: Any) -> list[dict[str, Any]]:
        if not waba_id or not isinstance(templates, list):
            raise ControlError(
                "Send waba_id and a list of templates.",
                {"waba_id": "Required.", "templates": "A list."},
            )
        cleaned = []
        for position, template in enumerate(templates):
            if not isinstance(template, dict) or not template.get("name"):
                raise ControlError("Invalid template.", {f"templates[{position}]": "Needs a name."})
            language = str(template.get("language") or "en")
            body = next(
                (
                    c
                    for c in template.get("components") or []
                    if str(c.get("type", "")).upper() == "BODY"
                ),
                None,
            )
            components = template.get("components") or []
            if body is None and template.get("body"):
                components = [{"type": "BODY", "text": str(template["body"])}, *components]
            cleaned.append(
                {
                    "name": str(template["name"]),
                    "language": language,
                    "category": str(template.get("category") or "MARKETING").upper(),
                    "status": str(template.get("status") or "APPROVED").upper(),
                    "parameter_format": str(
                        template.get("parameter_format") or "POSITIONAL"
                    ).upper(),
                    "components": components,
                    "id": str(
                        template.get("id") or template_id(waba_id, template["name"], language)
                    ),
                }
            )
        with self.lock:
            self.templates[str(waba_id)] = cleaned
        return cleaned

    def templates_for(self, waba_id: str) -> list[dict[str, Any]]:
        with self.lock:
            if waba_id in self.templates:
                return self.templates[waba_id]
            return default_templates(waba_id)

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(changes, dict):
            raise ControlError("Send a JSON object of settings.")
        errors: dict[str, str] = {}
        cleaned: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in DEFAULT_SETTINGS:
                errors[key] = "Unknown setting."
                continue
            default = DEFAULT_SETTINGS[key]
            try:
                if key == "undeliverable":
                    if not isinstance(value, list):
                        raise ValueError
                    cleaned[key] = [str(v).lstrip("+") for v in value]
                elif key == "throughput_per_second":
                    cleaned[key] = None if value is None else int(value)
                elif isinstance(default, bool):
                    if not isinstance(value, bool):
                        raise ValueError
                    cleaned[key] = value
                elif isinstance(default, int):
                    cleaned[key] = int(value)
                else:
                    cleaned[key] = float(value)
                amount = cleaned[key]
                if isinstance(amount, int | float) and not isinstance(amount, bool) and amount < 0:
                    raise ValueError
            except (TypeError, ValueError):
                errors[key] = f"Invalid value (default {default!r})."
        if errors:
            raise ControlError("Invalid settings.", errors)
        with self.lock:
            self.settings.update(cleaned)
            return dict(self.settings)

    def reset(self, *, everything: bool = False) -> None:
        """Forget messages, customers, media, the log, pending webhooks and the clock;
        settings and templates go back to the config file's (or the defaults). Numbers
        registered at runtime stay unless `everything`."""
        with self.lock:
            self.generation += 1
            self._reset_runtime()
            self.templates.clear()
            if everything:
                self.numbers.clear()
            self.load_config(self._config)
        if self.dispatcher is not None:
            self.dispatcher.clear()

    def advance_clock(self, seconds: float) -> float:
        with self.lock:
            self.clock_offset += seconds
            return self.clock_offset

    def now(self) -> float:
        """Simulated time: wall clock plus what /_sim/clock added (24 h window rules)."""
        return time.time() + self.clock_offset

    # -- lookups -------------------------------------------------------------------------

    def number(self, phone_number_id: Any) -> dict[str, Any]:
        with self.lock:
            if not phone_number_id:
                if len(self.numbers) == 1:
                    return next(iter(self.numbers.values()))
                raise ControlError("Which business number?", {"phone_number_id": "Required."})
            number = self.numbers.get(str(phone_number_id))
            if number is None:
                raise ControlError(
                    "Unknown business number.", {"phone_number_id": "Not registered."}, 404
                )
            return number

    def _customer(
        self, wa_id: str, name: str | None = None, user_id: str | None = None
    ) -> Customer:
        customer = self.customers.get(wa_id)
        if customer is None:
            customer = Customer(
                wa_id=wa_id, user_id=user_id or derive_user_id(wa_id), name=name or "Customer"
            )
            self.customers[wa_id] = customer
        if name:
            customer.name = name
        if user_id:
            customer.user_id = user_id
        self.user_ids[customer.user_id] = wa_id
        return customer

    def _auth(self, token: str | None, number: dict[str, Any] | None) -> None:
        if number is not None:
            if not token or not secrets.compare_digest(token, number["access_token"]):
                raise graph.token_error()
        elif not token or not any(
            secrets.compare_digest(token, n["access_token"]) for n in self.numbers.values()
        ):
            raise graph.token_error()

    # -- Graph API -----------------------------------------------------------------------

    def graph_send(
        self, phone_number_id: str, token: str | None, payload: Any
    ) -> tuple[int, dict[str, Any]]:
        try:
            with self.lock:
                number = self.numbers.get(phone_number_id)
                self._auth(token, number)
                if number is None:
                    raise graph.unknown_object(phone_number_id)
                if not isinstance(payload, dict):
                    raise graph.invalid("The request body must be a JSON object")
                if payload.get("status") == "read":
                    return self._mark_read(number, payload)
                send = graph.validate_send(payload, self.templates_for(number["waba_id"]))
                self._check_limits(number, send.recipient)
                return 200, self._accept(number, send)
        except graph.GraphError as error:
            return error.http_status, error.envelope()

    def _mark_read(
        self, number: dict[str, Any], payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if payload.get("messaging_product") != "whatsapp":
            raise graph.required("messaging_product")
        message_id = payload.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise graph.required("message_id")
        self.read_marks.append(message_id)
        inbound = self.inbox.get(message_id)
        if inbound is not None and inbound.phone_number_id == number["phone_number_id"]:
            # Like WhatsApp: reading a message marks the earlier ones in the chat read too.
            for message in self.inbox.values():
                if (
                    message.phone_number_id == inbound.phone_number_id
                    and message.wa_id == inbound.wa_id
                    and message.created_at <= inbound.created_at
                ):
                    message.read_by_business = True
        return 200, {"success": True}

    def _check_limits(self, number: dict[str, Any], recipient: graph.Recipient) -> None:
        now = time.monotonic()
        limit = self.settings["throughput_per_second"] or number["throughput_per_second"]
        sends = self._sends.setdefault(number["phone_number_id"], deque())
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
        pair = self._pairs.setdefault(key, deque())
        while pair and now - pair[0] >= self.settings["pair_window_seconds"]:
            pair.popleft()
        if len(pair) >= self.settings["pair_limit"]:
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

    def _accept(self, number: dict[str, Any], send: graph.Send) -> dict[str, Any]:
        recipient = send.recipient
        digits = recipient.digits or self.user_ids.get(recipient.user_id or "")
        user_id = recipient.user_id or (self._customer(digits).user_id if digits else None)
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
        if len(self.outbox) >= OUTBOX_LIMIT:
            self.outbox.pop(next(iter(self.outbox)))
        self.outbox[message.wamid] = message
        failure = self._failure(number, send, digits)
        if failure:
            self._plan(message, ["failed"], failure=failure)
        else:
            plan = ["sent"]
            if self.settings["auto_deliver"]:
                plan.append("delivered")
                if self.settings["auto_read"]:
                    plan.append("read")
            self._plan(message, plan)
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

    def _failure(self, number: dict[str, Any], send: graph.Send, digits: str | None) -> int | None:
        if digits and digits in self.settings["undeliverable"]:
            return 131026
        key = (number["phone_number_id"], digits or "")
        if send.type != "template":
            opened = self.windows.get(key)
            if opened is None or self.now() - opened >= WINDOW_SECONDS:
                return 131047
        elif send.category == "marketing" and self.preferences.get(key) == "stop":
            return 131050
        return None

    def _plan(self, message: OutMessage, statuses: list[str], failure: int | None = None) -> None:
        """Schedule status webhooks for a message, honouring latency/reorder/batch."""
        if failure is not None:
            title, details = graph.ASYNC_ERRORS[failure]
            message.errors = [
                {
                    "code": failure,
                    "title": title,
                    "message": title,
                    "error_data": {"details": details},
                    "href": graph.ERROR_DOCS,
                }
            ]
        if self.settings["reorder"]:
            statuses = list(reversed(statuses))
        message.planned.extend(statuses)
        latency = self.settings["latency_ms"] / 1000
        start = max(time.monotonic(), message.last_due)
        for position, status in enumerate(statuses):
            step = 1 if self.settings["batch"] else position + 1
            due = start + latency * step
            message.last_due = max(message.last_due, due)
            if self.dispatcher is not None:
                self.dispatcher.schedule_at(
                    due,
                    StatusJob(self.generation, message.phone_number_id, message.wamid, status),
                )

    def status_body(self, jobs: list[StatusJob]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Turn due status jobs into (number, body) pairs; in batch mode one body per number
        (one entry per message), otherwise one body per status."""
        with self.lock:
            grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
            singles: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for job in jobs:
                message = self.outbox.get(job.wamid)
                number = self.numbers.get(job.phone_number_id)
                if job.generation != self.generation or message is None or number is None:
                    continue
                status = self._status_object(message, job.status)
                if job.status != "failed" and STATUS_RANK[job.status] > STATUS_RANK[message.status]:
                    message.status = job.status
                if self.settings["batch"]:
                    by_message = grouped.setdefault(number["phone_number_id"], {})
                    by_message.setdefault(message.wamid, []).append(status)
                else:
                    singles.append((number, self._status_envelope(number, message, [status])))
            for phone_number_id, by_message in grouped.items():
                number = self.numbers[phone_number_id]
                entries = [
                    (
                        number["waba_id"],
                        self._status_envelope(number, self.outbox[wamid], statuses)["entry"][0][
                            "changes"
                        ],
                    )
                    for wamid, statuses in by_message.items()
                ]
                singles.append((number, envelopes.envelope(entries)))
            return singles

    def _status_envelope(
        self, number: dict[str, Any], message: OutMessage, statuses: list[dict[str, Any]]
    ) -> dict[str, Any]:
        value: dict[str, Any] = {"statuses": statuses}
        customer = self.customers.get(message.to or "")
        if customer is not None:
            value = {
                "contacts": [
                    envelopes.contact(
                        name=customer.name, wa_id=customer.wa_id, user_id=customer.user_id
                    )
                ],
                **value,
            }
        change = envelopes.change(number, "messages", value)
        return envelopes.envelope([(number["waba_id"], [change])])

    def _status_object(self, message: OutMessage, status: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": message.wamid,
            "status": status,
            "timestamp": str(int(time.time())),
        }
        if message.to:
            item["recipient_id"] = message.to
        if message.user_id:
            item["recipient_user_id"] = message.user_id
        if message.biz_opaque_callback_data is not None:
            item["biz_opaque_callback_data"] = message.biz_opaque_callback_data
        if status == "failed":
            item["errors"] = message.errors
            return item
        free = message.category == "service"
        if status in ("sent", "delivered"):
            item["conversation"] = {
                "id": hashlib.sha256(
                    f"{message.phone_number_id}:{message.to}".encode()
                ).hexdigest()[:32],
                "expiration_timestamp": str(int(message.created_at) + WINDOW_SECONDS),
                "origin": {"type": message.category},
            }
        item["pricing"] = {
            "billable": not free,
            "pricing_model": "PMP",
            "type": "free_customer_service" if free else "regular",
            "category": message.category,
        }
        return item

    def list_templates(
        self, waba_id: str, token: str | None, query: dict[str, str], base_url: str, path: str
    ) -> tuple[int, dict[str, Any]]:
        try:
            with self.lock:
                numbers = [n for n in self.numbers.values() if n["waba_id"] == waba_id]
                if not numbers:
                    self._auth(token, None)
                    raise graph.unknown_object(waba_id)
                if not token or not any(
                    secrets.compare_digest(token, n["access_token"]) for n in numbers
                ):
                    raise graph.token_error()
                templates = self.templates_for(waba_id)
        except graph.GraphError as error:
            return error.http_status, error.envelope()
        for key in ("name", "status", "category", "language"):
            if query.get(key):
                wanted = query[key].lower()
                templates = [t for t in templates if str(t.get(key, "")).lower() == wanted]
        try:
            limit = max(1, min(int(query.get("limit") or 25), 1000))
            start = (
                int(base64.urlsafe_b64decode(query["after"]).decode()) + 1
                if query.get("after")
                else 0
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

    def graph_object(self, object_id: str, token: str | None, base_url: str) -> tuple[int, Any]:
        try:
            with self.lock:
                media = self.media.get(object_id)
                number = self.numbers.get(object_id)
                owner = self.numbers.get(media.phone_number_id) if media else number
                self._auth(token, owner)
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

    def media_download(self, media_id: str, token: str | None) -> tuple[int, Any, str]:
        try:
            with self.lock:
                media = self.media.get(media_id)
                self._auth(token, self.numbers.get(media.phone_number_id) if media else None)
                if media is None:
                    raise graph.GraphError(404, 100, "Media not found", "Unknown media id")
                return 200, media.content, media.mime_type
        except graph.GraphError as error:
            return error.http_status, error.envelope(), "application/json"

    # -- the customer's side (control API) -----------------------------------------------

    def build_inbound(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
        """Record an inbound message and return (number, webhook body, wamid)."""
        with self.lock:
            number = self.number(data.get("phone_number_id"))
            digits = _digits(data.get("from") or data.get("wa_id"), "from")
            kind = str(data.get("type") or "text")
            if kind not in INBOUND_TYPES:
                raise ControlError("Unknown message type.", {"type": f"One of {INBOUND_TYPES}."})
            customer = self._customer(digits, data.get("name"), data.get("user_id"))
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
                context_id = self._last_outbound(pnid, digits)
            if context_id and kind != "reaction":
                message["context"] = {"from": number["display_phone_number"], "id": context_id}
            summary = self._inbound_content(message, kind, data, pnid, context_id)
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
            self.windows[(pnid, digits)] = self.now()
            self.inbox[wamid] = InMessage(wamid, pnid, digits, kind, summary, time.time())
            change = envelopes.change(
                number, "messages", {"contacts": [contact], "messages": [message]}
            )
            return number, envelopes.envelope([(number["waba_id"], [change])]), wamid

    def _last_outbound(self, phone_number_id: str, digits: str) -> str | None:
        for message in reversed(self.outbox.values()):
            if message.phone_number_id == phone_number_id and message.to == digits:
                return message.wamid
        return None

    def _inbound_content(
        self,
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
                raise ControlError(
                    "Invalid reply.", {"interactive_type": "button_reply or list_reply"}
                )
            title = str(data.get("reply_title") or text or "Yes")
            reply = {"id": str(data.get("reply_id") or title.lower()), "title": title}
            if reply_kind == "list_reply" and data.get("reply_description"):
                reply["description"] = str(data["reply_description"])
            message["interactive"] = {"type": reply_kind, reply_kind: reply}
            return title
        if kind in DEFAULT_MEDIA:
            media_data: dict[str, Any] = (
                data["media"] if isinstance(data.get("media"), dict) else {}
            )
            default_mime, default_name = DEFAULT_MEDIA[kind]
            mime = str(media_data.get("mime_type") or default_mime)
            filename = str(media_data.get("filename") or default_name)
            media_id = str(secrets.randbelow(9 * 10**14) + 10**14)
            media = Media(media_id, phone_number_id, mime, filename, media_bytes(mime, filename))
            self.media[media_id] = media
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
                        "phones": [
                            {"phone": "+919800000001", "type": "CELL", "wa_id": "919800000001"}
                        ],
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

    def build_user_preferences(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        with self.lock:
            number = self.number(data.get("phone_number_id"))
            digits = _digits(data.get("wa_id") or data.get("from"), "wa_id")
            value = data.get("value")
            if value not in ("stop", "resume"):
                raise ControlError("Stop or resume?", {"value": "stop or resume"})
            customer = self._customer(digits, data.get("name"), data.get("user_id"))
            self.preferences[(number["phone_number_id"], digits)] = value
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

    def build_call(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
        with self.lock:
            number = self.number(data.get("phone_number_id"))
            digits = _digits(data.get("from") or data.get("wa_id"), "from")
            event = data.get("event") or "connect"
            if event not in ("connect", "terminate"):
                raise ControlError("Unknown call event.", {"event": "connect or terminate"})
            direction = str(data.get("direction") or "USER_INITIATED").upper()
            if direction not in ("USER_INITIATED", "BUSINESS_INITIATED"):
                raise ControlError("Invalid direction.", {"direction": "USER/BUSINESS_INITIATED"})
            customer = self._customer(digits, data.get("name"), data.get("user_id"))
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
                    self.windows[(number["phone_number_id"], digits)] = self.now()
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

    def customer_reads(self, data: dict[str, Any], status: str) -> list[str]:
        """The customer opens the chat ("read") or their phone comes online ("delivered")."""
        with self.lock:
            number = self.number(data.get("phone_number_id"))
            digits = _digits(data.get("to") or data.get("wa_id"), "to")
            before = "delivered" if status == "read" else "sent"
            touched = []
            for message in self.outbox.values():
                if (
                    message.phone_number_id == number["phone_number_id"]
                    and message.to == digits
                    and not message.errors
                    and before in message.planned
                    and status not in message.planned
                ):
                    self._plan(message, [status])
                    touched.append(message.wamid)
            return touched

    def list_outbox(self, phone_number_id: str | None, to: str | None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                m.as_dict()
                for m in self.outbox.values()
                if (not phone_number_id or m.phone_number_id == phone_number_id)
                and (not to or m.to == to.lstrip("+"))
            ]

    def conversation(self, phone_number_id: str | None, wa_id: str | None) -> dict[str, Any]:
        with self.lock:
            number = self.number(phone_number_id)
            digits = _digits(wa_id, "wa_id")
            pnid = number["phone_number_id"]
            chat: list[OutMessage | InMessage] = [
                m for m in self.outbox.values() if m.phone_number_id == pnid and m.to == digits
            ]
            chat += [
                m for m in self.inbox.values() if m.phone_number_id == pnid and m.wa_id == digits
            ]
            chat.sort(key=lambda m: m.created_at)
            opened = self.windows.get((pnid, digits))
            customer = self.customers.get(digits)
            return {
                "phone_number_id": pnid,
                "wa_id": digits,
                "name": customer.name if customer else "",
                "window_open": opened is not None and self.now() - opened < WINDOW_SECONDS,
                "marketing": self.preferences.get((pnid, digits), "resume"),
                "messages": [m.as_dict() for m in chat],
            }

    def record_webhook(self, entry: dict[str, Any], generation: int) -> None:
        with self.lock:
            if generation != self.generation:
                return
            self._log_seq += 1
            self.webhook_log.append({"seq": self._log_seq, **entry})

    def log_entries(self, *, bodies: bool, since: int = 0) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {k: v for k, v in e.items() if bodies or k != "body"}
                for e in self.webhook_log
                if e["seq"] > since
            ]


def public_number(number: dict[str, Any]) -> dict[str, Any]:
    """A number without its secrets (for lists and the customer page)."""
    return {
        k: v for k, v in number.items() if k not in ("access_token", "app_secret", "verify_token")
    }


def _digits(value: Any, name: str) -> str:
    digits = str(value or "").strip().lstrip("+")
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise ControlError("Invalid phone number.", {name: "Digits in E.164, e.g. 919876543210."})
    return digits
