"""What the HTTP benchmarks share: a throw-away database, the web server, and ``wrk``.

Every HTTP benchmark starts the server the way production does and drives it with
``wrk`` (``bench/wrk/post.lua``), so that its figures and the one-INSERT ceiling
(``bench/ceiling.py``) come from the same server, settings and client. Bodies are
generated beforehand into a file, one per line, and the script cycles through them, so a
lead has a new phone number and a webhook a new message id on every request, signed in
advance; wrk's own CPU time is measured and printed, to show it is not the bottleneck.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("gunicorn", "granian")
PRODUCTION_SERVER = "granian"  # what manage.py serve starts (docs/adr/0012-web-server.md)
WRK_SCRIPT = ROOT / "bench" / "wrk" / "post.lua"
START_TIMEOUT_SECONDS = 60
# One wrk thread drives a few thousand requests a second on loopback with a fraction of a
# core; more threads would only take CPU from the server being measured.
WRK_THREADS = 1


@dataclass(frozen=True)
class Server:
    """A web server as production starts it: ``kind`` with ``workers`` processes of
    ``threads`` threads each (gunicorn's ``--threads``, granian's ``--blocking-threads``)."""

    kind: str = PRODUCTION_SERVER
    workers: int = 2
    threads: int = 4

    @property
    def label(self) -> str:
        return f"{self.kind} {self.workers}x{self.threads}"


@dataclass(frozen=True)
class Load:
    """One wrk run: what was answered, how fast, and what the client itself cost."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    client_cpu: float  # share of one core that wrk used
    # What a lenient run (``wrk(..., strict=False)``) counts instead of stopping on it.
    unexpected: int = 0
    last_unexpected: int = 0
    socket_errors: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


# Databases -------------------------------------------------------------------------------


def bench_database_name(admin_url: str, purpose: str) -> str:
    """``<the admin URL's database>_bench_<purpose>``: people sharing one PostgreSQL server,
    each with a database of their own, never drop each other's bench database."""
    own = urlsplit(admin_url).path.lstrip("/") or "postgres"
    return f"{own}_bench_{purpose}"


@contextmanager
def bench_database(admin_url: str, purpose: str) -> Iterator[str]:
    """A fresh PostgreSQL database next to the admin URL's, dropped afterwards; its URL."""
    import psycopg
    from psycopg import sql

    name = bench_database_name(admin_url, purpose)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        from django.conf import settings

        if settings.configured:
            from django.db import connections

            connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(drop)


# The server ------------------------------------------------------------------------------


def server_environment(*, workdir: str, database_url: str) -> dict[str, str]:
    """The environment of a production start, pointed at the bench's database and files.

    Only the rate limits are raised (a benchmark is one client sending thousands of requests
    a minute) and logging is quieter. ``REDIS_URL`` and ``CELERY_BROKER_URL`` pass through.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HEROSHHI_MASTER_KEYS", "HEROSHHI_MASTER_KEYS_FILE")
    }
    Path(workdir, "staticfiles").mkdir(exist_ok=True)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="development",
        DJANGO_DEBUG="false",
        HEROSHHI_VAR_DIR=workdir,  # the same keys as the bench process
        DATABASE_URL=database_url,
        HEROSHHI_API_RATE_LIMIT="100000000",
        HEROSHHI_WEBHOOK_RATE_LIMIT="100000000",
        LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_argv(server: Server) -> list[str]:
    if server.kind == "gunicorn":
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "bench" / "gunicorn_config.py"),
            "config.wsgi:application",
        ]
    if server.kind == "granian":
        return [sys.executable, "-m", "config.granian"]  # what manage.py serve runs
    raise ValueError(f"unknown server {server.kind!r}")


@contextmanager
def serving(server: Server, env: dict[str, str]) -> Iterator[str]:
    """The server running on a free loopback port until the block ends; its base URL."""
    port = free_port()
    env = {
        **env,
        "HEROSHHI_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(server.workers),
        "WEB_THREADS": str(server.threads),
    }
    process = subprocess.Popen(server_argv(server), cwd=ROOT, env=env)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, port)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    import http.client

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the web server exited with status {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    raise SystemExit(f"the web server was not healthy within {START_TIMEOUT_SECONDS} s")


# The client ------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """wrk's path, installing Debian's package when it is missing and apt can."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        print("wrk is missing; installing it with apt-get", file=sys.stderr)
        subprocess.run([apt, "install", "-y", "-q", "wrk"], check=False)  # noqa: S603
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("the HTTP benchmarks need wrk: apt-get install -y wrk")
    return found


def write_bodies(path: Path, bodies: Iterable[tuple[str, bytes | None]]) -> int:
    """One request per line for post.lua: (per-line header value, body); None is a GET."""
    count = 0
    with path.open("wb") as out:
        for value, body in bodies:
            out.write(value.encode() + b"\t" + (b"-" if body is None else body) + b"\n")
            count += 1
    return count


def wrk(
    url: str,
    bodies: Path,
    *,
    concurrency: int,
    seconds: float,
    expect: int = 200,
    line_header: str | None = None,
    headers: dict[str, str] | None = None,
    repeat: bool = False,
    delay_ms: float | None = None,
    strict: bool = True,
) -> Load:
    """``concurrency`` connections kept busy for ``seconds`` (each waiting ``delay_ms``
    after every answer, if given); every answer must be ``expect``, and unless ``repeat``,
    no body may be sent twice (the file must hold enough of them). Unless ``strict``,
    unexpected answers, socket errors and timeouts are counted in the result instead."""
    command = [
        ensure_wrk(),
        f"--threads={min(WRK_THREADS, concurrency)}",
        f"--connections={concurrency}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=30s",
        f"--script={WRK_SCRIPT}",
        url,
        "--",
        str(bodies),
        str(expect),
        str(min(WRK_THREADS, concurrency)),
        line_header or "-",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**os.environ, "WRK_DELAY_MS": f"{delay_ms:g}"} if delay_ms else None
    finished = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=False, env=env
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    figures_line = next(
        (line for line in reversed(finished.stdout.splitlines()) if line.startswith("{")), ""
    )
    if finished.returncode or not figures_line:
        raise SystemExit(f"wrk failed:\n{finished.stdout}\n{finished.stderr}")
    figures = json.loads(figures_line)
    if strict and figures["unexpected"]:
        raise SystemExit(
            f"{figures['unexpected']} of {figures['requests']} answers were not HTTP {expect} "
            f"(e.g. {figures['last_unexpected']}) from {url}"
        )
    if strict and (figures["socket_errors"] or figures["timeouts"]):
        raise SystemExit(f"wrk saw socket errors or timeouts on {url}: {figures}")
    if figures["cycled"] and not repeat:
        raise SystemExit(
            f"{figures['requests']:,} requests to {url} needed more than the "
            f"{figures['loaded']:,} distinct bodies prepared"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Load(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        client_cpu=cpu / wall,
        unexpected=figures["unexpected"],
        last_unexpected=figures["last_unexpected"],
        socket_errors=figures["socket_errors"] + figures["timeouts"],
    )


def enough(rate_hint: float, seconds: float) -> int:
    """How many distinct bodies a run of ``seconds`` needs when the server's ceiling is
    ``rate_hint`` requests a second: twice that, so a faster route still never repeats."""
    return max(2_000, int(rate_hint * seconds * 2) + 500)


# Figures ---------------------------------------------------------------------------------


def header_line(first: str = "") -> str:
    return f"{first:<40} {'req/s':>8} {'p50':>9} {'p99':>9} {'of ceiling':>11} {'client':>7}"


def figure_line(label: str, load: Load, ceiling: Load | None = None) -> str:
    share = f"{load.rate / ceiling.rate:>10.0%}" if ceiling else f"{'':>10} "
    return (
        f"{label:<40} {load.rate:>8,.0f} {load.p50_ms:>7.1f}ms {load.p99_ms:>7.1f}ms "
        f"{share:>11} {load.client_cpu:>6.0%}"
    )


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())
