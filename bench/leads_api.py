"""Lead creation through the real HTTP API: ``.venv/bin/python bench/leads_api.py``.

Starts gunicorn with ``config/gunicorn.py`` (gthread, 2 workers x 4 threads, as in
production) on a free loopback port, against a throw-away database, and posts from this
process with keep-alive HTTP clients (``httpx``) using an owner API key:

* ``POST /api/v1/leads/batch`` with batches of 500 new leads (``--batched`` leads in all,
  ``--clients`` concurrent clients): leads per second, every item checked ``created``;
* ``POST /api/v1/leads`` one lead per request (``--singles`` requests): requests per
  second and p50/p95 latency.

Every lead goes through validation, encryption, blind indexes, dedupe against the live
leads (``--leads`` seeded first, 0 by default), the timeline and the audit chain, which is
verified at the end. The API rate limit (100 requests a minute per key by default) is
raised for the server under test; nothing else differs from a production start.

Databases as in ``bench/leads.py``: SQLite in a temporary folder by default, or with
``DATABASE_URL`` (an admin connection) a database ``heroshhi_bench_api`` created and
dropped on that server::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/leads_api.py
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import leads as bench  # bench/leads.py: database, Django setup, seeding, names

BATCH = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=0, help="leads to seed first")
    parser.add_argument("--batched", type=int, default=50_000, help="leads sent in batches")
    parser.add_argument("--singles", type=int, default=2_000, help="single-lead requests")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir:
        if admin_url:
            with bench._postgres_bench_database(admin_url, "heroshhi_bench_api") as url:
                bench._setup_django(workdir, url)
                _run(args, workdir=workdir, database_url=url)
        else:
            bench._setup_django(workdir, None)
            _run(args, workdir=workdir, database_url="")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_gunicorn(*, workdir: str, database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "false",
        "HEROSHHI_VAR_DIR": workdir,  # the same keys as this process
        "HEROSHHI_BIND": f"127.0.0.1:{port}",
        "HEROSHHI_API_RATE_LIMIT": "100000000",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "4",
    }
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=bench.ROOT,
        env=env,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn did not come up")


def _item(n: int) -> dict[str, Any]:
    names = bench.FIRST_NAMES, bench.LAST_NAMES
    item: dict[str, Any] = {
        "name": f"{names[0][n % len(names[0])]} {names[1][n % len(names[1])]}",
        "phone": f"0{bench.FIRST_PHONE + n}",
        "source": "api",
        "source_details": {"utm_source": "bench"},
        "deal_value": "25000",
    }
    if n % 3 == 0:
        item["email"] = f"lead{n}@example.com"
    if n % 2:
        item["tags"] = ["hot"]
    return item


def _in_threads(clients: int, work: list[Any], send: Any) -> float:
    """Run ``send(client, unit)`` over ``work`` from ``clients`` threads; wall seconds."""
    import httpx

    queue = list(reversed(work))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def worker() -> None:
        with httpx.Client(timeout=120) as client:
            while True:
                with lock:
                    if not queue or failures:
                        return
                    unit = queue.pop()
                try:
                    send(client, unit)
                except BaseException as exc:  # reported below, after the threads end
                    failures.append(exc)
                    return

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started


def _run(args: argparse.Namespace, *, workdir: str, database_url: str) -> None:
    from django.core.management import call_command
    from django.db import connection

    from heroshhi.accounts.services import api_key_create, user_create
    from heroshhi.audit.services import chain_for
    from heroshhi.audit.verify import verify_chain
    from heroshhi.core.actors import Actor
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Lead
    from heroshhi.leads.services import stages_ensure_defaults
    from heroshhi.workspaces.permissions import Role
    from heroshhi.workspaces.services import membership_create, workspace_create

    print(f"{connection.vendor}; gunicorn gthread 2x4 on loopback, {args.clients} clients\n")
    password = "bench password 2026 not secret"  # noqa: S105 -- throw-away database
    owner = user_create(email="owner@bench.heroshhi.test", password=password)
    workspace = workspace_create(
        actor=Actor.system(), name="Bench Traders", slug="bench", owner=owner
    )
    sales = [
        membership_create(
            workspace=workspace,
            user=user_create(email=f"sales{n}@bench.heroshhi.test", password=password),
            role=Role.SALES,
        )
        for n in (1, 2)
    ]
    stages = stages_ensure_defaults(workspace=workspace)
    if args.leads:
        bench._seed(
            workspace=workspace, stage_ids=[s.pk for s in stages], members=sales, count=args.leads
        )
    key = api_key_create(
        workspace=workspace,
        actor=Actor.user("bench", role=Role.OWNER),
        created_by=None,
        name="bench",
        role=Role.OWNER,
    ).plaintext
    # The server runs the plain settings, whose cache (rate limits) is a database table.
    call_command("createcachetable", "heroshhi_cache", verbosity=0)
    port = _free_port()
    server = _start_gunicorn(workdir=workdir, database_url=database_url, port=port)
    base = f"http://127.0.0.1:{port}/api/v1/leads"
    headers = {"Authorization": f"Bearer {key}"}
    first = bench.FIRST_PHONE and args.leads  # new numbers after the seeded ones
    try:
        warm = [list(range(first + n * 10, first + n * 10 + 10)) for n in range(4)]
        _in_threads(args.clients, warm, lambda c, u: _post_batch(c, base, headers, u))
        first += 40

        batches = [
            list(range(start, min(start + BATCH, first + args.batched)))
            for start in range(first, first + args.batched, BATCH)
        ]
        elapsed = _in_threads(args.clients, batches, lambda c, u: _post_batch(c, base, headers, u))
        label = f"POST /leads/batch ({BATCH} a request), {args.batched:,} leads"
        print(f"{label:<52} {args.batched / elapsed:>9,.0f} leads/s   ({elapsed:.1f} s)")
        first += args.batched

        latencies: list[float] = []

        def post_one(client: Any, n: int) -> None:
            started = time.perf_counter()
            response = client.post(base, json=_item(n), headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 201, response.text

        elapsed = _in_threads(args.clients, list(range(first, first + args.singles)), post_one)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        label = f"POST /leads (one lead a request), {args.singles:,} requests"
        print(f"{label:<52} {args.singles / elapsed:>9,.0f} req/s")
        print(
            f"{'  latency':<52} p50 {statistics.median(latencies):6.1f} ms  p95 {cuts[94]:6.1f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    with workspace_scope(workspace):
        total = Lead.objects.count()
    expected = args.leads + 40 + args.batched + args.singles
    assert total == expected, f"{total} leads stored, {expected} expected"
    started = time.perf_counter()
    result = verify_chain(chain_for(workspace))
    assert result.ok, result
    label = "audit chain verified (every lead has its event)"
    print(f"{label:<52} {time.perf_counter() - started:>9.1f} s")


def _post_batch(client: Any, base: str, headers: dict[str, str], numbers: list[int]) -> None:
    response = client.post(
        f"{base}/batch", json={"items": [_item(n) for n in numbers]}, headers=headers
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["created"] == len(numbers), response.text[:500]


if __name__ == "__main__":
    main()
