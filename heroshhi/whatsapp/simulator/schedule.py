"""A thread-safe queue of jobs ordered by due time (monotonic seconds).

The state puts status webhooks in it as messages are accepted and empties it on reset; the
dispatcher takes what is due and puts back retries and duplicates. Neither knows the other.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Schedule[T]:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()  # ties leave in the order they came
        self._wake = threading.Condition()
        self._closed = False

    def put(self, due: float, job: T) -> None:
        with self._wake:
            heapq.heappush(self._heap, (due, next(self._order), job))
            self._wake.notify()

    def clear(self) -> None:
        with self._wake:
            self._heap.clear()

    def close(self) -> None:
        """Wake the taker for good: `take` answers None from now on."""
        with self._wake:
            self._closed = True
            self._wake.notify()

    def take(self, batch_window: Callable[[T], float | None]) -> list[T] | None:
        """Wait until the earliest job is due and return it, or None once closed.

        When `batch_window(job)` gives seconds, every other batchable job (one for which it
        gives a number too) due within that long of the first leaves with it.
        """
        with self._wake:
            while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                self._wake.wait(timeout)
            if self._closed:
                return None
            due, _, first = heapq.heappop(self._heap)
            jobs = [first]
            window = batch_window(first)
            if window is None:
                return jobs
            later: list[tuple[float, int, T]] = []
            while self._heap and self._heap[0][0] <= due + window:
                item = heapq.heappop(self._heap)
                if batch_window(item[2]) is not None:
                    jobs.append(item[2])
                else:
                    later.append(item)
            for item in later:
                heapq.heappush(self._heap, item)
            return jobs
