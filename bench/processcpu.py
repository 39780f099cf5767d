"""CPU time spent by the processes behind a benchmark run, read from ``/proc``.

Requests per second on a machine shared with others depend on the neighbours; the CPU the
web server and PostgreSQL spend per request does not. ``Meter`` finds the web server by the
port it listens on (its ``HEROSHHI_BIND``) with every descendant process, and PostgreSQL by
the backends connected to the bench database, and reads their user + system time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system time of each process still alive."""
    times = {}
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            times[pid] = (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return times


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between the two readings by the processes alive at the second."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def server_pids(port: int) -> list[int]:
    """The process started with ``HEROSHHI_BIND=127.0.0.1:<port>`` and its descendants."""
    wanted = f"HEROSHHI_BIND=127.0.0.1:{port}".encode()
    roots = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and wanted in (entry / "environ").read_bytes().split(b"\0"):
                roots.append(int(entry.name))
        except OSError:
            continue
    tree = _children()
    found: list[int] = []
    while roots:
        pid = roots.pop()
        if pid not in found:
            found.append(pid)
            roots.extend(tree.get(pid, []))
    return found


def postgres_pids(database_url: str) -> list[int]:
    """The backends connected to the database of ``database_url`` (but this probe's own)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as probe:
        rows = probe.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(pid) for (pid,) in rows]


@dataclass
class Meter:
    """CPU-ms per request of the server on ``port`` and of PostgreSQL, over one run."""

    port: int
    database_url: str
    _server: dict[int, float] = field(default_factory=dict)
    _postgres: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        self._server = cpu_seconds(server_pids(self.port))
        self._postgres = cpu_seconds(postgres_pids(self.database_url))

    def per_request(self, requests: int) -> tuple[float, float]:
        """(server, PostgreSQL) CPU-ms per request since ``start``. A process started
        during the run counts whole; one that ended during it is missed."""
        server = _spent(self._server, cpu_seconds(server_pids(self.port)))
        postgres = _spent(self._postgres, cpu_seconds(postgres_pids(self.database_url)))
        scale = 1000 / max(requests, 1)
        return server * scale, postgres * scale
