"""Defaults: behaviour settings and the template set every WABA gets unless configured."""

from __future__ import annotations

import hashlib
from typing import Any

DEFAULT_THROUGHPUT_PER_SECOND = 80

# Behaviour knobs, changed with POST /_sim/config (or "settings" in the config file).
DEFAULT_SETTINGS: dict[str, Any] = {
    "latency_ms": 150,  # delay before each status webhook
    "auto_deliver": True,  # emit "delivered" after "sent"
    "auto_read": False,  # emit "read" after "delivered" (the customer page's "Open chat" reads)
    "duplicate": 0,  # send every webhook this many extra times (at-least-once delivery)
    "reorder": False,  # emit a message's statuses newest first (read before delivered)
    "batch": False,  # coalesce due statuses into one POST (one entry per message)
    "batch_window_ms": 250,  # statuses due within this window go in the same batch
    "throughput_per_second": None,  # overrides every number's own limit when set
    "pair_limit": 10,  # messages to one recipient ...
    "pair_window_seconds": 6.0,  # ... within this many seconds, then 131056
    "max_retries": 3,  # re-POSTs after a non-200 answer
    "retry_backoff_seconds": 1.0,  # first retry delay; doubles every attempt
    "webhook_timeout_seconds": 10.0,
    "undeliverable": [],  # recipients (digits) whose messages fail with 131026
}

# (name, language, category, status, body text, quick-reply buttons)
_DEFAULT_TEMPLATES: list[tuple[str, str, str, str, str, list[str]]] = [
    (
        "welcome_offer",
        "en",
        "MARKETING",
        "APPROVED",
        "Hi {{1}}, welcome! Enjoy 10% off your first order this week.",
        ["Interested", "Stop promotions"],
    ),
    (
        "appointment_reminder",
        "en",
        "UTILITY",
        "APPROVED",
        "Hi {{1}}, this is a reminder of your appointment on {{2}}. Reply here to reschedule.",
        [],
    ),
    (
        "lead_followup",
        "en",
        "MARKETING",
        "APPROVED",
        "Hi {{1}}, thanks for your interest in {{2}}. Can we help you choose?",
        [],
    ),
    (
        "order_update_hi",
        "hi",
        "UTILITY",
        "APPROVED",
        "नमस्ते {{1}}, आपका ऑर्डर भेज दिया गया है।",
        [],
    ),
    ("old_promo", "en", "MARKETING", "PAUSED", "Hi {{1}}, last chance for our old promotion!", []),
    ("rejected_promo", "en", "MARKETING", "REJECTED", "BUY NOW {{1}}!!!", []),
]


def template_id(waba_id: str, name: str, language: str) -> str:
    """A stable numeric id, so the app sees the same id across restarts."""
    digest = hashlib.sha256(f"{waba_id}:{name}:{language}".encode()).hexdigest()
    return str(int(digest[:13], 16))


def default_templates(waba_id: str) -> list[dict[str, Any]]:
    templates = []
    for name, language, category, status, body, buttons in _DEFAULT_TEMPLATES:
        components: list[dict[str, Any]] = [{"type": "BODY", "text": body}]
        if buttons:
            components.append(
                {
                    "type": "BUTTONS",
                    "buttons": [{"type": "QUICK_REPLY", "text": text} for text in buttons],
                }
            )
        templates.append(
            {
                "name": name,
                "language": language,
                "category": category,
                "status": status,
                "parameter_format": "POSITIONAL",
                "components": components,
                "id": template_id(waba_id, name, language),
            }
        )
    return templates
