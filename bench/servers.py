"""gunicorn against granian on three routes, in one run: ``.venv/bin/python bench/servers.py``.

For each server (``httpbench.serving``: granian as production starts it, with
``config/granian.py``, WSGI; gunicorn as production ran it before ADR 0012, gthread, with
``bench/gunicorn_config.py``; the same ``--workers`` and ``--threads`` for both), with its
own one-INSERT ceiling server (``bench/ceiling.py``) on the same database, it measures at
concurrency 4 and 16, each run right after the ceiling's:

* the webhook acknowledgement (one signed message per POST, new message ids);
* ``POST /api/v1/leads``, one new lead per request with an owner API key;
* the lead list page ``/w/bench/leads/`` as the signed-in owner (first page of 50 rows out
  of ``--leads``, 10,000 by default).

``--rounds`` repeats the whole comparison, alternating the servers, and the summary shows
the median of the rounds. No Celery worker runs (the inbox only grows; an
acknowledgement does not wait for processing); the client is ``wrk`` for every figure.

``DATABASE_URL`` is an admin connection (``<its database>_bench_servers`` is created and
dropped); set ``REDIS_URL`` and ``CELERY_BROKER_URL`` as production would::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6 REDIS_URL=redis://127.0.0.1:6379/6 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/servers.py --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ceiling
import httpbench
import leads as bench  # bench/leads.py: seeding
import webhooks
from httpbench import Load, Server
from leads_api import lead_body

LEVELS = (4, 16)
# (the ceiling's run, the route's run) of each round
Runs = list[tuple[Load, Load]]


@dataclass
class Targets:
    """The three routes, each a function (base URL, concurrency, seconds, ceiling) -> Load."""

    workdir: Path
    channel_id: str
    api_key: str
    session_cookie: str
    serials: webhooks._Serials
    next_lead: int

    def acknowledgement(self, base: str, concurrency: int, seconds: float, limit: Load) -> Load:
        bodies = self.workdir / "ack.bodies"
        count = httpbench.enough(limit.rate, seconds)
        httpbench.write_bodies(
            bodies, (webhooks._signed(self.serials.body(1, 0)) for _ in range(count))
        )
        return httpbench.wrk(
            f"{base}/webhooks/whatsapp/{self.channel_id}/",
            bodies,
            concurrency=concurrency,
            seconds=seconds,
            line_header="X-Hub-Signature-256",
        )

    def lead_create(self, base: str, concurrency: int, seconds: float, limit: Load) -> Load:
        bodies = self.workdir / "leads.bodies"
        count = httpbench.enough(limit.rate, seconds)
        first, self.next_lead = self.next_lead, self.next_lead + count
        httpbench.write_bodies(bodies, (("", lead_body(n)) for n in range(first, first + count)))
        return httpbench.wrk(
            f"{base}/api/v1/leads",
            bodies,
            concurrency=concurrency,
            seconds=seconds,
            expect=201,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )

    def lead_list(self, base: str, concurrency: int, seconds: float, limit: Load) -> Load:
        bodies = self.workdir / "list.bodies"
        httpbench.write_bodies(bodies, [("", None)])
        return httpbench.wrk(
            f"{base}/w/bench/leads/",
            bodies,
            concurrency=concurrency,
            seconds=seconds,
            headers={"Cookie": f"sessionid={self.session_cookie}"},
            repeat=True,
        )


def _setup(workdir: Path, prefill: int) -> Targets:
    from django.test import Client

    from heroshhi.accounts.models import User
    from heroshhi.accounts.services import api_key_create
    from heroshhi.core.actors import Actor
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.services.stages import stages_ensure_defaults
    from heroshhi.workspaces.models import Membership
    from heroshhi.workspaces.permissions import Role

    workspace, channel = webhooks._setup()
    stages = stages_ensure_defaults(workspace=workspace)
    with workspace_scope(workspace):
        sales = list(Membership.objects.filter(role=Role.SALES))
    bench._seed(workspace=workspace, stage_ids=[s.pk for s in stages], members=sales, count=prefill)
    key = api_key_create(
        workspace=workspace,
        actor=Actor.user("bench", role=Role.OWNER),
        created_by=None,
        name="bench",
        role=Role.OWNER,
    ).plaintext
    browser = Client()
    browser.force_login(User.objects.get(email="owner@bench.heroshhi.test"))
    return Targets(
        workdir=workdir,
        channel_id=str(channel.pk),
        api_key=key,
        session_cookie=browser.cookies["sessionid"].value,
        serials=webhooks._Serials(contacts=500),
        next_lead=prefill,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8, help="length of each run")
    parser.add_argument("--rounds", type=int, default=1, help="comparisons, servers alternating")
    parser.add_argument("--leads", type=int, default=10_000, help="leads in the workspace")
    parser.add_argument("--workers", type=int, default=2, help="processes, for both servers")
    parser.add_argument("--threads", type=int, default=4, help="threads a process, for both")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        raise SystemExit("bench/servers.py needs DATABASE_URL=postgres://… (an admin connection)")
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        httpbench.bench_database(admin_url, "servers") as database_url,
    ):
        env = httpbench.server_environment(workdir=workdir, database_url=database_url)
        webhooks._setup_django(env)
        targets = _setup(Path(workdir), args.leads)
        _compare(args, env=env, targets=targets)


def _compare(args: argparse.Namespace, *, env: dict[str, str], targets: Targets) -> None:
    from django.db import connection

    connection.close()  # the servers are measured, not this process
    routes: dict[str, Callable[[str, int, float, Load], Load]] = {
        "webhook ack (1 message)": targets.acknowledgement,
        "POST /api/v1/leads": targets.lead_create,
        "GET /w/<slug>/leads/ (signed in)": targets.lead_list,
    }
    runs: dict[tuple[str, int, str], Runs] = defaultdict(list)
    print(
        f"{args.leads:,} leads; wrk, {args.seconds:.0f} s a run; load average "
        f"{httpbench.load_average()}\n"
    )
    for round_number in range(args.rounds):
        kinds = httpbench.SERVERS if round_number % 2 == 0 else httpbench.SERVERS[::-1]
        for kind in kinds:
            server = Server(kind=kind, workers=args.workers, threads=args.threads)
            print(f"round {round_number + 1}: {server.label}")
            print(httpbench.header_line())
            with ceiling.running(server, env) as top, httpbench.serving(server, env) as base:
                for route, run in routes.items():
                    run(base, 4, 2, top.measure(4, 2))  # warm-up
                    for level in LEVELS:
                        limit = top.measure(level, args.seconds)
                        load = run(base, level, args.seconds, limit)
                        runs[(route, level, kind)].append((limit, load))
                        print(httpbench.figure_line(f"  ceiling, c={level}", limit))
                        print(httpbench.figure_line(f"  {route}, c={level}", load, limit))
            print()
    _summary(runs, routes=list(routes), label=Server(workers=args.workers, threads=args.threads))
    print(f"\nload average {httpbench.load_average()}")


def _summary(runs: dict[tuple[str, int, str], Runs], *, routes: list[str], label: Any) -> None:
    print(f"medians of the rounds ({label.workers} processes x {label.threads} threads each)")
    print(f"{'':<40}" + "".join(f"{kind:>36}" for kind in httpbench.SERVERS))
    columns = f"{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'of ceil.':>9}"
    print(f"{'':<40}" + columns * len(httpbench.SERVERS))
    rows: list[tuple[str, dict[str, Runs], bool]] = []
    for level in LEVELS:
        ceilings: dict[str, Runs] = defaultdict(list)
        for (_route, run_level, kind), pairs in runs.items():
            if run_level == level:
                ceilings[kind] += [(limit, limit) for limit, _load in pairs]
        rows.append((f"one INSERT (ceiling), c={level}", ceilings, False))
    for route in routes:
        for level in LEVELS:
            by_kind = {kind: runs[(route, level, kind)] for kind in httpbench.SERVERS}
            rows.append((f"{route}, c={level}", by_kind, True))
    for title, by_kind, with_share in rows:
        cells = []
        for kind in httpbench.SERVERS:
            pairs = by_kind[kind]
            rate = statistics.median(load.rate for _, load in pairs)
            p50 = statistics.median(load.p50_ms for _, load in pairs)
            p99 = statistics.median(load.p99_ms for _, load in pairs)
            share = statistics.median(load.rate / limit.rate for limit, load in pairs)
            shown = f"{share:>9.0%}" if with_share else f"{'':>9}"
            cells.append(f"{rate:>9,.0f}{p50:>9.1f}{p99:>9.1f}{shown}")
        print(f"{title:<40}" + "".join(cells))


if __name__ == "__main__":
    main()
