"""Posts webhooks to the app: on time, signed, retried with backoff, optionally duplicated.

It drains the simulator's schedule (status jobs the state planned, and its own retries and
duplicates); the state never calls it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from . import envelopes, statuses
from .records import Delivery, Job, StatusJob
from .state import Simulator


class Dispatcher(threading.Thread):
    def __init__(self, simulator: Simulator) -> None:
        super().__init__(name="wa-simulator-dispatcher", daemon=True)
        self.simulator = simulator
        self.schedule = simulator.schedule
        # trust_env=False: a developer's HTTP(S)_PROXY must not capture loopback webhooks.
        self.http = httpx.Client(trust_env=False, follow_redirects=False)

    def stop(self) -> None:
        self.schedule.close()
        self.join(timeout=5)
        self.http.close()

    def run(self) -> None:
        while (jobs := self.schedule.take(self._batch_window)) is not None:
            try:
                self._process(jobs)
            except Exception as error:
                self.simulator.record_webhook(
                    {"at": _now(), "kind": "internal", "error": repr(error)},
                    self.simulator.generation,
                )

    def _batch_window(self, job: Job) -> float | None:
        """Batch mode: statuses due within the window of the first ride in the same POST."""
        settings = self.simulator.settings
        if isinstance(job, StatusJob) and settings["batch"]:
            return settings["batch_window_ms"] / 1000
        return None

    def _process(self, jobs: list[Job]) -> None:
        due_statuses = [job for job in jobs if isinstance(job, StatusJob)]
        for job in jobs:
            if isinstance(job, Delivery):
                self.post(job)
        if due_statuses:
            generation = due_statuses[0].generation
            for number, body in statuses.status_bodies(self.simulator, due_statuses):
                self.post(self.delivery(number, body, "status", generation=generation))

    # -- delivery ------------------------------------------------------------------------

    def delivery(
        self,
        number: dict[str, Any],
        body: Any,
        kind: str,
        *,
        generation: int | None = None,
        sign: bool = True,
        signature_override: str | None = None,
        retry: bool = True,
    ) -> Delivery:
        return Delivery(
            generation=self.simulator.generation if generation is None else generation,
            url=number["webhook_url"],
            app_secret=number["app_secret"],
            body=envelopes.encode(body),
            kind=kind,
            sign=sign,
            signature_override=signature_override,
            retry=retry,
        )

    def post(self, delivery: Delivery) -> int | None:
        """POST now (caller's thread); log it; schedule retries and duplicates. Returns the
        app's HTTP status, or None when it could not be reached."""
        simulator = self.simulator
        if delivery.generation != simulator.generation:
            return None
        try:
            parsed: Any = json.loads(delivery.body)
        except ValueError:
            parsed = delivery.body.decode(errors="replace")
        fields, ids = envelopes.item_ids(parsed)
        entry: dict[str, Any] = {
            "at": _now(),
            "url": delivery.url,
            "kind": delivery.kind,
            "fields": fields,
            "item_ids": ids,
            "attempt": delivery.attempt,
            "duplicate": delivery.duplicate,
            "response_status": None,
            "error": None,
            "body": parsed,
        }
        status: int | None = None
        if not delivery.url:
            entry["error"] = "the number has no webhook_url"
            simulator.record_webhook(entry, delivery.generation)
            return None
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if delivery.sign:
            headers["X-Hub-Signature-256"] = delivery.signature_override or envelopes.signature(
                delivery.app_secret, delivery.body
            )
        try:
            response = self.http.post(
                delivery.url,
                content=delivery.body,
                headers=headers,
                timeout=simulator.settings["webhook_timeout_seconds"],
            )
            status = response.status_code
        except httpx.HTTPError as error:
            entry["error"] = type(error).__name__
        entry["response_status"] = status
        simulator.record_webhook(entry, delivery.generation)

        settings = simulator.settings
        now = time.monotonic()
        if status != 200 and delivery.retry and delivery.attempt < settings["max_retries"]:
            backoff = settings["retry_backoff_seconds"] * 2**delivery.attempt
            self.schedule.put(now + backoff, replace(delivery, attempt=delivery.attempt + 1))
        if delivery.attempt == 0 and not delivery.duplicate and delivery.retry:
            gap = max(settings["latency_ms"], 10) / 1000
            for copy_number in range(settings["duplicate"]):
                self.schedule.put(
                    now + gap * (copy_number + 1), replace(delivery, duplicate=True, retry=False)
                )
        return status


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
