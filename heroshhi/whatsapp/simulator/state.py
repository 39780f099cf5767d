"""The simulator's memory: numbers, templates, settings, customers, windows, messages, media,
the webhook log and the schedule of status webhooks.

Everything lives in one `Simulator` object guarded by one lock; the Graph API (outbound.py),
the customer's side (inbound.py) and the status webhooks (statuses.py) work on it. Webhook POSTs
never happen while the lock is held (the app may call the Graph API back from inside its webhook
handler): the dispatcher takes due jobs from `schedule` and posts them outside it.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import deque
from typing import Any

from . import graph
from .defaults import (
    DEFAULT_SETTINGS,
    DEFAULT_THROUGHPUT_PER_SECOND,
    default_templates,
    template_id,
)
from .records import (
    WINDOW_SECONDS,
    ControlError,
    Customer,
    InMessage,
    Job,
    Media,
    OutMessage,
    derive_user_id,
    parse_digits,
    public_number,
)
from .schedule import Schedule

LOG_LIMIT = 5000
NUMBER_FIELDS = (
    "phone_number_id",
    "waba_id",
    "display_phone_number",
    "access_token",
    "app_secret",
)


class Simulator:
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.lock = threading.RLock()
        self.numbers: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, list[dict[str, Any]]] = {}
        self.generation = 0
        self.schedule: Schedule[Job] = Schedule()  # webhooks due later; the dispatcher drains it
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
        self.sends: dict[str, deque[float]] = {}  # number -> monotonic times, last second
        self.pairs: dict[tuple[str, str], deque[float]] = {}  # (number, recipient) -> times
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
        self.schedule.clear()

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

    def customer(self, wa_id: str, name: str | None = None, user_id: str | None = None) -> Customer:
        """The customer with these digits (created on first sight); a name or BSUID given wins."""
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

    def authenticate(self, token: str | None, number: dict[str, Any] | None) -> None:
        """Graph API auth: the number's own token, or any number's when there is no number."""
        if number is not None:
            if not token or not secrets.compare_digest(token, number["access_token"]):
                raise graph.token_error()
        elif not token or not any(
            secrets.compare_digest(token, n["access_token"]) for n in self.numbers.values()
        ):
            raise graph.token_error()

    # -- what happened (control API) -----------------------------------------------------

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
            digits = parse_digits(wa_id, "wa_id")
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
