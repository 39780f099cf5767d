"""CPU cost of one ``POST /api/v1/leads``: ``.venv/bin/python bench/lead_create_cpu.py``.

Wall-clock figures on a shared machine say little; the CPU a request costs the web process
does not depend on the neighbours. This drives ``--requests`` creates through the real WSGI
application in this process (the production settings and middleware, the same bodies and
owner key as ``bench/leads_api.py``) on a throw-away PostgreSQL database and prints
CPU-ms per request (``time.process_time``: this process only, not PostgreSQL's), wall-ms
and database queries per request. ``--profile`` adds a cProfile top list by own and by
cumulative time. ``REDIS_URL`` and ``CELERY_BROKER_URL`` are used when set, as the server
would use them::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6 REDIS_URL=redis://127.0.0.1:6379/10 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/11 .venv/bin/python bench/lead_create_cpu.py
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
from httpbench import ROOT

WARM_UP = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="creates to measure")
    parser.add_argument("--leads", type=int, default=0, help="leads to prefill")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top list")
    parser.add_argument("--top", type=int, default=30, help="rows of the top list")
    parser.add_argument("--dump", metavar="FILE", help="also write the profile for pstats")
    parser.add_argument("--queries", action="store_true", help="print one request's SQL")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        raise SystemExit("bench/lead_create_cpu.py needs DATABASE_URL=postgres://…")
    passthrough = {n: os.environ[n] for n in ("REDIS_URL", "CELERY_BROKER_URL") if n in os.environ}
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        httpbench.bench_database(admin_url, "cpu") as database_url,
    ):
        # The environment the server under test gets, applied to this process.
        os.environ.update(httpbench.server_environment(workdir=workdir, database_url=database_url))
        os.environ.update(passthrough)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        _run(args)


def _run(args: argparse.Namespace) -> None:
    import leads_api  # bench/leads_api.py: the same workspace, key and bodies
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    _workspace, key = leads_api._setup(args.leads)
    connection.close()
    application = get_wsgi_application()
    post = _poster(application, key)
    serial = args.leads
    for _ in range(WARM_UP):
        post(leads_api.lead_body(serial))
        serial += 1
    if args.queries:
        _print_queries(lambda: post(leads_api.lead_body(serial)))
        serial += 1
    queries = [0]

    def count(execute: Callable[..., Any], *a: Any) -> Any:
        queries[0] += 1
        return execute(*a)

    # Timed by CPU, so that waiting for PostgreSQL does not show as cost.
    profile = cProfile.Profile(time.process_time) if args.profile else None
    with connection.execute_wrapper(count), _profiling(profile):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.requests):
            post(leads_api.lead_body(serial))
            serial += 1
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = args.requests
    print(
        f"POST /api/v1/leads x {n:,} ({args.leads:,} leads before): "
        f"{cpu / n * 1000:.2f} CPU-ms/request, {wall / n * 1000:.2f} wall-ms/request, "
        f"{queries[0] / n:.1f} queries/request"
    )
    if profile is not None:
        if args.dump:
            profile.dump_stats(args.dump)
        # By own time, by cumulative time, and the project's own functions by cumulative time.
        lists = (("tottime", ()), ("cumulative", ()), ("cumulative", ("heroshhi/",)))
        for order, restriction in lists:
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out).sort_stats(order)
            stats.print_stats(*restriction, args.top)
            print(out.getvalue())


def _print_queries(request: Callable[[], None]) -> None:
    from django.db import connection

    statements: list[str] = []

    def record(execute: Callable[..., Any], sql: str, *a: Any) -> Any:
        statements.append(sql)
        return execute(sql, *a)

    with connection.execute_wrapper(record):
        request()
    print(f"one request, {len(statements)} statements:")
    for sql in statements:
        print(f"  {sql[:160]}")


@contextmanager
def _profiling(profile: cProfile.Profile | None) -> Iterator[None]:
    if profile is None:
        yield
        return
    profile.enable()
    try:
        yield
    finally:
        profile.disable()


def _poster(application: Any, key: str) -> Callable[[bytes], None]:
    """Calls the WSGI application as the server would, and insists on 201."""

    def post(body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/leads",
            "QUERY_STRING": "",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "8000",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "localhost",
            "HTTP_AUTHORIZATION": f"Bearer {key}",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        status: list[str] = []
        chunks = application(environ, lambda s, headers, exc_info=None: status.append(s))
        b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        if not status[0].startswith("201"):
            raise SystemExit(f"expected 201, got {status[0]}")

    return post


if __name__ == "__main__":
    main()
