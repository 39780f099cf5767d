"""Posts webhooks to the app: on time, signed, retried with backoff, optionally duplicated."""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx

from . import envelopes
from .state import Simulator, StatusJob


@dataclass(frozen=True)
class Delivery:
    """One webhook POST (first attempt, retry or duplicate), with its exact bytes."""

    generation: int
    url: str
    app_secret: str
    body: bytes
    kind: str  # message / status / user_preferences / calls / raw
    sign: bool = True
    signature_override: str | None = None
    attempt: int = 0
    duplicate: bool = False
    retry: bool = True


Job = StatusJob | Delivery


class Dispatcher(threading.Thread):
    def __init__(self, simulator: Simulator) -> None:
        super().__init__(name="wa-simulator-dispatcher", daemon=True)
        self.simulator = simulator
        simulator.dispatcher = self
        self._heap: list[tuple[float, int, Job]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        # trust_env=False: a developer's HTTP(S)_PROXY must not capture loopback webhooks.
        self.http = httpx.Client(trust_env=False, follow_redirects=False)

    # -- queue ---------------------------------------------------------------------------

    def schedule_at(self, due: float, job: Job) -> None:
        with self._wake:
            heapq.heappush(self._heap, (due, next(self._order), job))
            self._wake.notify()

    def clear(self) -> None:
        with self._wake:
            self._heap.clear()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self.join(timeout=5)
        self.http.close()

    def run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                jobs = self._take_due()
            try:
                self._process(jobs)
            except Exception as error:
                self.simulator.record_webhook(
                    {"at": _now(), "kind": "internal", "error": repr(error)},
                    self.simulator.generation,
                )

    def _take_due(self) -> list[Job]:
        due, _, first = heapq.heappop(self._heap)
        jobs: list[Job] = [first]
        if isinstance(first, StatusJob) and self.simulator.settings["batch"]:
            # Batch mode: everything due within the window rides in the same POST.
            limit = due + self.simulator.settings["batch_window_ms"] / 1000
            later: list[tuple[float, int, Job]] = []
            while self._heap and self._heap[0][0] <= limit:
                item = heapq.heappop(self._heap)
                if isinstance(item[2], StatusJob):
                    jobs.append(item[2])
                else:
                    later.append(item)
            for item in later:
                heapq.heappush(self._heap, item)
        return jobs

    def _process(self, jobs: list[Job]) -> None:
        statuses = [job for job in jobs if isinstance(job, StatusJob)]
        for job in jobs:
            if isinstance(job, Delivery):
                self.post(job)
        if statuses:
            generation = statuses[0].generation
            for number, body in self.simulator.status_body(statuses):
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
            self.schedule_at(now + backoff, replace(delivery, attempt=delivery.attempt + 1))
        if delivery.attempt == 0 and not delivery.duplicate and delivery.retry:
            gap = max(settings["latency_ms"], 10) / 1000
            for copy_number in range(settings["duplicate"]):
                self.schedule_at(
                    now + gap * (copy_number + 1), replace(delivery, duplicate=True, retry=False)
                )
        return status


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
