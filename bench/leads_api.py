"""Lead creation through the real HTTP API: ``.venv/bin/python bench/leads_api.py``.

Starts the web server as production does (``--server``, 2 processes x 4 threads by
default) on a throw-away PostgreSQL database, beside a one-INSERT ceiling server with the
same settings (``bench/ceiling.py``), and at concurrency 1, 4 and 16 measures first the
ceiling, then ``POST /api/v1/leads`` with one new lead per request and an owner API key:
requests per second, p50 and p99, and the share of the ceiling (the budget: ≥ 1,000/s and
≥ 40 % of the ceiling at concurrency 16). The client is ``wrk`` (``bench/httpbench.py``)
cycling through bodies made beforehand, each with a new phone number, so every request
creates a lead: validation, encryption, blind indexes, dedupe against the live leads, the
timeline and the audit chain, which is verified at the end. Beside the rates it prints the
CPU-ms per request of the web server's processes and of PostgreSQL's backends, the ceiling's
and its own (``bench/processcpu.py``): figures a busy neighbour does not change.

``--leads N`` prefills the workspace first (the budget case is 100,000) through the seeding
of ``bench/leads.py``: ``bulk_create`` in batches of 5,000, encrypted, with blind indexes and
name tokens. The API rate limit is raised for the server under test; nothing else differs
from a production start. ``REDIS_URL`` (cache, rate limits) and ``CELERY_BROKER_URL`` are
passed to the server when set, as production would have them.

``DATABASE_URL`` is an admin connection; ``<its database>_bench_api`` is created there and
dropped at the end::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6 REDIS_URL=redis://127.0.0.1:6379/6 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/leads_api.py --leads 100000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ceiling
import httpbench
import leads as bench  # bench/leads.py: Django setup, seeding, names
import processcpu
from httpbench import Server

LEVELS = (1, 4, 16)
PASSTHROUGH = ("REDIS_URL", "CELERY_BROKER_URL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=0, help="leads to prefill (budget: 100000)")
    parser.add_argument("--seconds", type=float, default=10, help="length of each run")
    parser.add_argument("--server", choices=httpbench.SERVERS, default=httpbench.PRODUCTION_SERVER)
    parser.add_argument("--workers", type=int, default=2, help="web server processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        raise SystemExit("bench/leads_api.py needs DATABASE_URL=postgres://… (an admin connection)")
    passthrough = {name: os.environ[name] for name in PASSTHROUGH if os.environ.get(name)}
    server = Server(kind=args.server, workers=args.workers, threads=args.threads)
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        httpbench.bench_database(admin_url, "api") as database_url,
    ):
        bench._setup_django(workdir, database_url)
        env = {**httpbench.server_environment(workdir=workdir, database_url=database_url)}
        env.update(passthrough)
        _run(args, server=server, env=env, workdir=Path(workdir))


def lead_body(n: int) -> bytes:
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
    return json.dumps(item, separators=(",", ":")).encode()


def _setup(prefill: int) -> tuple[Any, str]:
    """The workspace (owner, two sales members, stages, ``prefill`` leads) and an owner key."""
    from heroshhi.accounts.services import api_key_create
    from heroshhi.core.actors import Actor
    from heroshhi.workspaces.permissions import Role

    team = bench.bench_team()
    workspace, sales, stages = team.workspace, team.sales, team.stages
    if prefill:
        started = time.perf_counter()
        bench._seed(
            workspace=workspace, stage_ids=[s.pk for s in stages], members=sales, count=prefill
        )
        elapsed = time.perf_counter() - started
        print(f"prefill: {prefill:,} leads in {elapsed:.1f} s ({prefill / elapsed:,.0f}/s)")
    key = api_key_create(
        workspace=workspace,
        actor=Actor.user("bench", role=Role.OWNER),
        created_by=None,
        name="bench",
        role=Role.OWNER,
    ).plaintext
    # Without REDIS_URL the server's cache (rate limits) is this database table.
    from django.core.management import call_command

    call_command("createcachetable", "heroshhi_cache", verbosity=0)
    return workspace, key


def _run(args: argparse.Namespace, *, server: Server, env: dict[str, str], workdir: Path) -> None:
    from django.db import connection

    workspace, key = _setup(args.leads)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()  # the servers are measured, not this process
    headers = {"Authorization": f"Bearer {key}"}
    bodies = workdir / "leads.bodies"
    serial = args.leads  # new phone numbers after the prefilled ones
    posted = 0
    print(
        f"\n{server.label}; wrk, {args.seconds:.0f} s a run; {args.leads:,} leads before; "
        f"load average {httpbench.load_average()}\n"
    )
    print(httpbench.header_line())
    costs = []
    with ceiling.running(server, env) as top, httpbench.serving(server, env) as base:
        url = f"{base}/api/v1/leads"
        ceiling_meter = processcpu.Meter(urlsplit(top.url).port or 0, env["DATABASE_URL"])
        meter = processcpu.Meter(urlsplit(base).port or 0, env["DATABASE_URL"])
        for concurrency in (4, *LEVELS):  # the first run warms the server up
            warming = posted == 0
            seconds = 2 if warming else args.seconds
            ceiling_meter.start()
            limit = top.measure(concurrency, seconds)
            ceiling_cost = ceiling_meter.per_request(limit.requests)
            count = httpbench.enough(limit.rate, seconds)
            httpbench.write_bodies(
                bodies, (("", lead_body(n)) for n in range(serial, serial + count))
            )
            meter.start()
            load = httpbench.wrk(
                url, bodies, concurrency=concurrency, seconds=seconds, expect=201, headers=headers
            )
            costs.append((concurrency, ceiling_cost, meter.per_request(load.requests)))
            serial += count
            posted += load.requests
            if warming:
                continue
            print(httpbench.figure_line(f"one INSERT (ceiling), c={concurrency}", limit))
            print(httpbench.figure_line(f"POST /api/v1/leads, c={concurrency}", load, limit))
    print(f"\nload average {httpbench.load_average()}")
    # CPU per request does not depend on what else the machine runs, unlike the rates.
    print("CPU-ms per request, web server + PostgreSQL (ceiling | POST /api/v1/leads):")
    for concurrency, (top_web, top_db), (web, db) in costs[1:]:
        print(f"  c={concurrency:<3} {top_web:5.2f} + {top_db:5.2f} | {web:5.2f} + {db:5.2f}")
    _check(workspace, created_at_least=args.leads + posted, prefilled=args.leads)


def _check(workspace: Any, *, created_at_least: int, prefilled: int) -> None:
    """Every answered request made its lead, each lead its linked audit event, and the audit
    chain holds."""
    from heroshhi.audit.actions import AuditAction
    from heroshhi.audit.models import AuditEvent
    from heroshhi.audit.selectors import audit_queue
    from heroshhi.audit.sequencer import audit_sequence
    from heroshhi.audit.services import chain_for
    from heroshhi.audit.verify import verify_chain
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Lead

    with workspace_scope(workspace):
        total = Lead.objects.count()
    # A request still in flight when wrk stops its clock is created but not counted.
    assert total >= created_at_least, f"{total:,} leads stored, {created_at_least:,} answered"
    # No worker runs here: the sequencer links what the server's commits queued, as a
    # worker woken by them would have, in its batches.
    chain = chain_for(workspace)
    queued = audit_queue(chain).count
    started = time.perf_counter()
    while audit_sequence(chain).unfinished:
        pass
    elapsed = time.perf_counter() - started
    print(f"{queued:,} queued audit events linked in {elapsed:.1f} s")
    started = time.perf_counter()
    result = verify_chain(chain)
    elapsed = time.perf_counter() - started
    verdict = "verified" if result.ok and not result.queue.count else f"BROKEN: {result}"
    print(f"{total:,} leads stored; audit chain {verdict} in {elapsed:.1f} s")
    if verdict != "verified":
        raise SystemExit(1)
    events = AuditEvent.objects.filter(chain=chain, action=AuditAction.LEAD_CREATED).count()
    # Prefilled leads are written without events.
    assert events >= created_at_least - prefilled, f"{events:,} lead_created events"


if __name__ == "__main__":
    main()
