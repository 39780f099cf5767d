"""RSS over time of a running stack's processes, read from ``/proc``: used by ``bench/soak.py``.

Each watched process is named by its role (the web server, the Celery worker, beat) and
sampled with all its descendants (granian's workers, Celery's pool), every ``every``
seconds in a thread. A process that appears later (a worker respawned after a crash) gets
a series of its own, which shows the replacement as well as its memory.

The verdict on flatness compares each series' last third with its first third, leaving
out the sample taken before the load began: growth above ``FLAT_GROWTH`` is "growing".
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

PROC = Path("/proc")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
FLAT_GROWTH = 0.10


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible now."""
    parents: dict[int, int] = {}
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we looked
        # The command name may hold spaces and parentheses; the fields after it do not.
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(stat.parent.name)] = int(fields[1])
    return parents


def _rss_mb(pid: int) -> float | None:
    try:
        resident_pages = int((PROC / str(pid) / "statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return resident_pages * PAGE_BYTES / 2**20


def child_with_environment(marker: str) -> int:
    """The pid of this process's child whose environment holds ``marker`` (``NAME=value``)."""
    needle = marker.encode() + b"\0"
    for pid, parent in _parents().items():
        if parent != os.getpid():
            continue
        try:
            environment = (PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if needle in environment:
            return pid
    raise SystemExit(f"no child process has {marker} in its environment")


class RssWatch:
    """Samples ``roots`` (role -> pid) and their descendants until ``stop``."""

    def __init__(self, roots: dict[str, int], every: float) -> None:
        self.roots = roots
        self.every = every
        self.series: dict[str, list[tuple[float, float]]] = {}
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.every):
            self._sample()

    def _sample(self) -> None:
        at = time.monotonic() - self._started
        parents = _parents()
        for role, root in self.roots.items():
            for pid in [root, *_descendants(root, parents)]:
                rss = _rss_mb(pid)
                if rss is not None:
                    name = f"{role}{'' if pid == root else ' child'} {pid}"
                    self.series.setdefault(name, []).append((at, rss))

    def replaced(self) -> list[str]:
        """Processes that started or ended while the load ran: a worker that died and was
        replaced shows up here, whatever its memory did."""
        moments = sorted({at for samples in self.series.values() for at, _rss in samples})
        if not moments:
            return []
        first, last = moments[0], moments[-1]
        return [
            name
            for name, samples in self.series.items()
            if samples[0][0] != first or samples[-1][0] != last
        ]

    def report(self) -> tuple[list[str], bool]:
        """Lines to print (one row of MB figures per process, then its growth) and
        whether every process stayed flat."""
        lines = []
        flat = True
        for name, samples in self.series.items():
            figures = " ".join(f"{rss:>5.0f}" for _at, rss in samples)
            loaded = [rss for _at, rss in samples[1:]]
            if len(loaded) < 3:
                lines.append(f"{name:<28} {figures}  (too few samples to judge)")
                continue
            third = len(loaded) // 3
            first = statistics.mean(loaded[:third])
            last = statistics.mean(loaded[-third:])
            growth = last / first - 1
            verdict = "flat" if growth <= FLAT_GROWTH else "GROWING"
            flat = flat and growth <= FLAT_GROWTH
            lines.append(f"{name:<28} {figures}")
            lines.append(
                f"{'':<28} first third {first:,.0f} MB, last third {last:,.0f} MB: "
                f"{growth:+.1%} {verdict}"
            )
        return lines, flat


def _descendants(root: int, parents: dict[int, int]) -> list[int]:
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = sorted(pid for pid, ppid in parents.items() if ppid == parent)
        found += children
        frontier += children
    return found
