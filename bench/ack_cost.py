"""CPU and statements per webhook acknowledgement, in one process: ``bench/ack_cost.py``.

The HTTP benchmark's rates move with whatever else the shared machine runs; CPU time spent
in this process per request does not. This calls the WSGI application directly (no server,
no socket) with signed one-message POSTs, after a warm-up whose messages create every
contact's lead, and prints CPU-ms, statements and Redis commands per ack; then it drains
those deliveries in this process as a worker would, and prints CPU-ms per processed event
(this process's only: PostgreSQL's share is not in it). ``--profile`` adds the functions
that took the most CPU. Broker publishes (at most one per wake-up) count among the Redis
commands.

Like ``bench/webhooks.py`` it needs ``DATABASE_URL`` (an admin connection to PostgreSQL,
``<its name>_bench_ackcost`` is created and dropped) and ``CELERY_BROKER_URL``;
``REDIS_URL`` is used when set::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h7 REDIS_URL=redis://127.0.0.1:6379/12 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/ack_cost.py
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpbench
import webhooks as bench_webhooks


def _environ(path: str, body: bytes, signature: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_HUB_SIGNATURE_256": signature,
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


@contextmanager
def _redis_commands() -> Iterator[list[int]]:
    """Counts commands sent to Redis (a pipeline counts each of its commands)."""
    from redis.connection import AbstractConnection

    sent = [0]
    original = AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += len(command) if isinstance(command, list) else 1
        original(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


def _measure(app: Callable[..., Any], requests: list[dict[str, Any]]) -> tuple[float, int, int]:
    """(CPU seconds, statements, Redis commands) for answering every request."""
    from django.db import connection

    statements = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    def start_response(status: str, _headers: Any) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"the webhook answered {status}")

    with connection.execute_wrapper(count), _redis_commands() as redis:
        started = time.process_time()
        for environ in requests:
            response = app(environ, start_response)
            b"".join(response)
            response.close()
        cpu = time.process_time() - started
    return cpu, statements[0], redis[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres") or not os.environ.get("CELERY_BROKER_URL"):
        raise SystemExit("bench/ack_cost.py needs DATABASE_URL=postgres://… and CELERY_BROKER_URL")
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        httpbench.bench_database(admin_url, "ackcost") as database_url,
    ):
        env = httpbench.server_environment(workdir=workdir, database_url=database_url)
        bench_webhooks._setup_django(env)
        from config.celery import app as celery_app
        from config.wsgi import application

        workspace, channel = bench_webhooks._setup()
        path = f"/webhooks/whatsapp/{channel.pk}/"
        serials = bench_webhooks._Serials(contacts=500)

        def batch(count: int) -> list[dict[str, Any]]:
            signed = (bench_webhooks._signed(serials.body(1, 0)) for _ in range(count))
            return [_environ(path, body, signature) for signature, body in signed]

        # Warm-up: imports, connections, caches, and one message from every contact.
        _measure(application, batch(serials.contacts))
        _drain(workspace.pk)
        requests = batch(args.requests)
        with _profiled(args.profile):
            cpu, statements, redis = _measure(application, requests)
        n = len(requests)
        print(
            f"{n:,} acks, 1 event each: {cpu * 1000 / n:.3f} CPU-ms per ack, "
            f"{statements / n:.2f} statements and {redis / n:.2f} Redis commands per ack"
        )
        with _profiled(args.profile):
            cpu, processed = _drain(workspace.pk)
        print(f"drained {processed:,} events: {cpu * 1000 / max(processed, 1):.3f} CPU-ms each")
        celery_app.control.purge()  # the wake-ups queued here have no worker


@contextmanager
def _profiled(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def _drain(workspace_id: Any) -> tuple[float, int]:
    """(CPU seconds, events processed) for draining the inbox as the task does."""
    from heroshhi.whatsapp import inbox

    started = time.process_time()
    drained = inbox.inbox_drain(workspace_id=workspace_id, budget_seconds=3600)
    return time.process_time() - started, drained.processed


if __name__ == "__main__":
    main()
