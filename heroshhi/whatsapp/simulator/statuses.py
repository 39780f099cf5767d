"""Status webhooks: planning a message's statuses and building their bodies when due.

`plan` puts a `StatusJob` per status in the simulator's schedule, timed by the latency, reorder
and batch settings; the dispatcher hands the due ones to `status_bodies` and posts the result.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from . import envelopes, graph
from .records import WINDOW_SECONDS, OutMessage, StatusJob
from .state import Simulator

STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}


def plan(
    sim: Simulator, message: OutMessage, statuses: list[str], failure: int | None = None
) -> None:
    """Schedule status webhooks for a message, honouring latency/reorder/batch; with a
    failure code, one "failed" status carrying Meta's error for it. Call with the lock held."""
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
    if sim.settings["reorder"]:
        statuses = list(reversed(statuses))
    message.planned.extend(statuses)
    latency = sim.settings["latency_ms"] / 1000
    start = max(time.monotonic(), message.last_due)
    for position, status in enumerate(statuses):
        step = 1 if sim.settings["batch"] else position + 1
        due = start + latency * step
        message.last_due = max(message.last_due, due)
        sim.schedule.put(
            due, StatusJob(sim.generation, message.phone_number_id, message.wamid, status)
        )


def status_bodies(
    sim: Simulator, jobs: list[StatusJob]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Turn due status jobs into (number, body) pairs; in batch mode one body per number
    (one entry per message), otherwise one body per status."""
    with sim.lock:
        grouped: dict[str, dict[str, list[dict[str, Any]]]] = {}
        singles: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for job in jobs:
            message = sim.outbox.get(job.wamid)
            number = sim.numbers.get(job.phone_number_id)
            if job.generation != sim.generation or message is None or number is None:
                continue
            status = _status_object(message, job.status)
            if job.status != "failed" and STATUS_RANK[job.status] > STATUS_RANK[message.status]:
                message.status = job.status
            if sim.settings["batch"]:
                by_message = grouped.setdefault(number["phone_number_id"], {})
                by_message.setdefault(message.wamid, []).append(status)
            else:
                singles.append((number, _status_envelope(sim, number, message, [status])))
        for phone_number_id, by_message in grouped.items():
            number = sim.numbers[phone_number_id]
            entries = [
                (
                    number["waba_id"],
                    _status_envelope(sim, number, sim.outbox[wamid], statuses)["entry"][0][
                        "changes"
                    ],
                )
                for wamid, statuses in by_message.items()
            ]
            singles.append((number, envelopes.envelope(entries)))
        return singles


def _status_envelope(
    sim: Simulator, number: dict[str, Any], message: OutMessage, statuses: list[dict[str, Any]]
) -> dict[str, Any]:
    value: dict[str, Any] = {"statuses": statuses}
    customer = sim.customers.get(message.to or "")
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


def _status_object(message: OutMessage, status: str) -> dict[str, Any]:
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
            "id": hashlib.sha256(f"{message.phone_number_id}:{message.to}".encode()).hexdigest()[
                :32
            ],
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
