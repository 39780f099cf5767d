"""The lead list and its searches at 1,000,000 leads: ``.venv/bin/python bench/leads_list.py``.

Prefills one workspace with ``--leads`` made-up leads (1,000,000 by default; encrypted, blind
indexes, name tokens, a tag on every fourth, through ``bench/leads.py``'s seeding, forked
into ``--processes`` children that COPY batches side by side), then measures:

* in this process, p50/p95 of ``--runs`` calls each: the selector alone (``leads_list``,
  name, phone and tags read as a page shows them), the API (``GET /api/v1/leads`` and
  ``POST /api/v1/leads/search``) and the HTML page (``/w/bench/leads/``, GET for the first
  page, POST for a search) through Django's test client, so middleware, the view, the
  serialiser or the template are included, for the first page, a phone search (a stored
  number typed differently) and a name-word search (a common first name), against the
  budget (p95 ≤ 25, 10 and 50 ms);
* the number of queries of each, and with ``--explain`` the plan of each lead query
  (``EXPLAIN (ANALYZE, BUFFERS)``);
* over HTTP, the web server as production starts it (``httpbench.serving``) beside the
  one-INSERT ceiling (``bench/ceiling.py``), at concurrency 4 and 16, each run right after
  the ceiling's: requests/s, p50, p99 and the share of the ceiling, with ``wrk``.

``DATABASE_URL`` is an admin connection; ``<its database>_bench_list`` is created there.
``--keep`` leaves it (and the key folder) in place for the next run, which then skips the
prefill when the workspace already holds the leads asked for. ``REDIS_URL`` and
``CELERY_BROKER_URL`` pass to the server (and this process) as production would have them::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h8 REDIS_URL=redis://127.0.0.1:6379/14 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/15 .venv/bin/python bench/leads_list.py --keep
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ceiling
import httpbench
import leads as bench  # bench/leads.py: names, phones, seeding
import webhooks
from httpbench import Server

LEVELS = (4, 16)
BUDGET_P95_MS = {"first page": 25.0, "phone search": 10.0, "name search": 50.0}
SLUG = "bench"


@contextmanager
def _database(admin_url: str, *, keep: bool) -> Iterator[tuple[str, Path]]:
    """The bench database and its key folder; kept for the next run with ``keep``."""
    import psycopg
    from psycopg import sql

    name = httpbench.bench_database_name(admin_url, "list")
    url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    folder = Path(tempfile.gettempdir(), f"heroshhi-{name}")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not (keep and exists and folder.exists()):
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(exist_ok=True)
    try:
        yield url, folder
    finally:
        if not keep:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the workspace")
    parser.add_argument("--processes", type=int, default=2, help="prefill processes")
    parser.add_argument("--runs", type=int, default=200, help="timed calls per measure")
    parser.add_argument("--seconds", type=float, default=8, help="length of each HTTP run")
    parser.add_argument("--keep", action="store_true", help="keep the database for next time")
    parser.add_argument("--explain", action="store_true", help="print each lead query's plan")
    parser.add_argument("--no-http", action="store_true", help="in-process figures only")
    parser.add_argument("--profile", action="store_true", help="profile the first page")
    parser.add_argument("--server", choices=httpbench.SERVERS, default=httpbench.PRODUCTION_SERVER)
    parser.add_argument("--workers", type=int, default=2, help="web server processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        raise SystemExit("bench/leads_list.py needs DATABASE_URL=postgres://… (an admin URL)")
    with _database(admin_url, keep=args.keep) as (database_url, folder):
        env = httpbench.server_environment(workdir=str(folder), database_url=database_url)
        webhooks._setup_django(env)
        fixture = _fixture(args.leads, processes=args.processes)
        print(
            f"PostgreSQL, {args.leads:,} leads in one workspace; load average "
            f"{httpbench.load_average()}\n"
        )
        if args.profile:
            _profile(fixture)
            return
        _in_process(fixture, runs=args.runs, explain=args.explain)
        if not args.no_http:
            server = Server(kind=args.server, workers=args.workers, threads=args.threads)
            _over_http(fixture, server=server, env=env, folder=folder, seconds=args.seconds)


# The workspace ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    workspace: Any
    count: int
    api_key: str
    session_cookie: str


def _fixture(count: int, *, processes: int) -> Fixture:
    """The workspace with ``count`` leads (seeded unless a kept database has them), an owner
    API key and a signed-in owner's session."""
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from heroshhi.accounts.models import User
    from heroshhi.accounts.services import api_key_create
    from heroshhi.core.actors import Actor
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Lead
    from heroshhi.workspaces.models import Workspace
    from heroshhi.workspaces.permissions import Role

    call_command("createcachetable", verbosity=0)
    workspace = Workspace.objects.filter(slug=SLUG).first()
    if workspace is not None:
        with workspace_scope(workspace):
            held = Lead.objects.filter(deleted_at__isnull=True).count()
        if held != count:
            raise SystemExit(f"the kept database holds {held:,} leads: run without --keep once")
        print(f"prefill: kept from an earlier run ({held:,} leads)")
    else:
        team = bench.bench_team(slug=SLUG)
        workspace, sales, stages = team.workspace, team.sales, team.stages
        started = time.perf_counter()
        bench._seed(
            workspace=workspace,
            stage_ids=[stage.pk for stage in stages],
            members=sales,
            count=count,
            processes=processes,
        )
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(
            f"prefill: {count:,} leads in {seeded:.0f} s ({count / seeded:,.0f}/s, "
            f"{processes} processes), VACUUM ANALYZE {time.perf_counter() - started:.0f} s"
        )
    key = api_key_create(
        workspace=workspace,
        actor=Actor.user("bench", role=Role.OWNER),
        created_by=None,
        name="bench list",
        role=Role.OWNER,
    ).plaintext
    browser = Client()
    browser.force_login(User.objects.get(email=bench.OWNER_EMAIL))
    return Fixture(
        workspace=workspace,
        count=count,
        api_key=key,
        session_cookie=browser.cookies["sessionid"].value,
    )


def phone_typed_differently(rng: random.Random, count: int) -> str:
    """A stored number as a person types it: national with a dash, spaced, or bare."""
    national = str(bench.FIRST_PHONE + rng.randrange(count))
    return rng.choice((f"0{national[:5]}-{national[5:]}", f"+91 {national}", national))


# In this process -------------------------------------------------------------------------


def _percentiles(
    next_call: Callable[[], Callable[[], object]], runs: int
) -> tuple[float, float, float]:
    """Wall p50 and p95, and this thread's CPU p50, in ms of ``runs`` calls (after 5 to
    warm up), each from ``next_call``. The CPU figure leaves out the database's own time
    and the neighbours' load, so it is the one a capacity model can use."""
    for _ in range(5):
        next_call()()
    timings, cpu = [], []
    for _ in range(runs):
        call = next_call()
        started, cpu_started = time.perf_counter(), time.thread_time()
        call()
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - cpu_started) * 1000)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return statistics.median(timings), cuts[94], statistics.median(cpu)


def _in_process(fixture: Fixture, *, runs: int, explain: bool) -> None:
    from django.core.signals import request_started
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from heroshhi.leads.selectors import Viewer, leads_list, parse_lead_filters
    from heroshhi.workspaces.permissions import Role

    # Each test-client request would empty the query log that counts its queries.
    request_started.disconnect(reset_queries)
    workspace = fixture.workspace
    rng = random.Random(13)
    viewer = Viewer(role=Role.OWNER, member_id=None)  # what an owner's API key reads as
    api = Client(headers={"authorization": f"Bearer {fixture.api_key}"})
    page = Client()
    page.cookies["sessionid"] = fixture.session_cookie
    page_url = f"/w/{SLUG}/leads/"

    def selector(q: str | None) -> Callable[[], object]:
        def run() -> object:
            filters = parse_lead_filters({"q": q} if q else {})
            result = leads_list(workspace=workspace, viewer=viewer, filters=filters)
            return [(lead.name, lead.phone, lead.listed_tags) for lead in result.items]

        return run

    def checked(response: Any) -> Any:
        assert response.status_code == 200, response.status_code
        return response

    def phone() -> str:
        return phone_typed_differently(rng, fixture.count)

    def name() -> str:
        return rng.choice(bench.FIRST_NAMES)

    def api_search(q: str) -> Callable[[], Any]:
        body = json.dumps({"q": q})
        return lambda: checked(
            api.post("/api/v1/leads/search", body, content_type="application/json")
        )

    def page_search(q: str) -> Callable[[], object]:
        return lambda: checked(page.post(page_url, {"q": q}))

    api_get, page_get = "API GET /api/v1/leads", "page GET /w/<slug>/leads/"
    api_post, page_post = "API POST /api/v1/leads/search", "page POST /w/<slug>/leads/"
    measures: list[tuple[str, str, Callable[[], Callable[[], object]]]] = [
        ("first page", "selector", lambda: selector(None)),
        ("first page", api_get, lambda: lambda: checked(api.get("/api/v1/leads"))),
        ("first page", page_get, lambda: lambda: checked(page.get(page_url))),
        ("phone search", "selector", lambda: selector(phone())),
        ("phone search", api_post, lambda: api_search(phone())),
        ("phone search", page_post, lambda: page_search(phone())),
        ("name search", "selector", lambda: selector(name())),
        ("name search", api_post, lambda: api_search(name())),
        ("name search", page_post, lambda: page_search(name())),
    ]
    # A phone search must find its one lead, or its figure means nothing.
    found = json.loads(api_search(phone())().content)["items"]
    assert len(found) == 1, f"a phone search found {len(found)} leads"
    print(f"{'in-process':<44} {'queries':>7} {'p50':>9} {'p95':>9} {'CPU p50':>9}  budget (p95)")
    for kind, label, make in measures:
        # A new input for every call, made outside the timed part.
        inputs = [make() for _ in range(runs + 5)]
        with CaptureQueriesContext(connection) as captured:
            inputs[0]()
        p50, p95, cpu = _percentiles(iter(inputs).__next__, runs)
        budget = BUDGET_P95_MS[kind]
        verdict = f"{budget:>4.0f} ms {'ok' if p95 <= budget else 'OVER'}"
        print(
            f"{kind + ', ' + label:<44} {len(captured):>7} {p50:>7.2f}ms {p95:>7.2f}ms "
            f"{cpu:>7.2f}ms  "
            f"{verdict if label == 'selector' else ''}"
        )
    if explain:
        _explain(selector(None), selector(phone()), selector(name()))


def _profile(fixture: Fixture) -> None:
    import cProfile
    import pstats

    from django.test import Client

    page = Client()
    page.cookies["sessionid"] = fixture.session_cookie
    api = Client(headers={"authorization": f"Bearer {fixture.api_key}"})
    for client, url in ((page, f"/w/{SLUG}/leads/"), (api, "/api/v1/leads")):
        client.get(url)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            client.get(url)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def _explain(*runs: Callable[[], object]) -> None:
    """The plan of each run's lead query (the first query that reads leads_lead)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for run in runs:
        with CaptureQueriesContext(connection) as captured:
            run()
        sql = next(q["sql"] for q in captured.captured_queries if 'FROM "leads_lead"' in q["sql"])
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            print("\n" + "\n".join(row[0] for row in cursor.fetchall()))


# Over HTTP -------------------------------------------------------------------------------


def _over_http(
    fixture: Fixture, *, server: Server, env: dict[str, str], folder: Path, seconds: float
) -> None:
    from django.db import connection

    connection.close()  # the servers are measured, not this process
    rng = random.Random(17)
    api = {"Authorization": f"Bearer {fixture.api_key}"}
    session = {"Cookie": f"sessionid={fixture.session_cookie}"}

    def searches(make: Callable[[], str]) -> list[tuple[str, bytes | None]]:
        return [("", json.dumps({"q": make()}).encode()) for _ in range(5_000)]

    routes: list[tuple[str, str, dict[str, str], list[tuple[str, bytes | None]]]] = [
        ("GET /api/v1/leads (first page)", "/api/v1/leads", api, [("", None)]),
        (
            "POST /api/v1/leads/search (phone)",
            "/api/v1/leads/search",
            api,
            searches(lambda: phone_typed_differently(rng, fixture.count)),
        ),
        (
            "POST /api/v1/leads/search (name)",
            "/api/v1/leads/search",
            api,
            searches(lambda: rng.choice(bench.FIRST_NAMES)),
        ),
        ("GET /w/<slug>/leads/ (first page)", f"/w/{SLUG}/leads/", session, [("", None)]),
    ]
    print(f"\n{server.label}; wrk, {seconds:.0f} s a run; load average {httpbench.load_average()}")
    print(httpbench.header_line())
    with ceiling.running(server, env) as top, httpbench.serving(server, env) as base:
        for label, path, headers, bodies in routes:
            file = folder / "list.bodies"
            httpbench.write_bodies(file, bodies)
            url = base + path
            httpbench.wrk(url, file, concurrency=4, seconds=2, headers=headers, repeat=True)
            for level in LEVELS:
                limit = top.measure(level, seconds)
                measured = httpbench.wrk(
                    url, file, concurrency=level, seconds=seconds, headers=headers, repeat=True
                )
                print(httpbench.figure_line(f"  ceiling, c={level}", limit))
                print(httpbench.figure_line(f"  {label}, c={level}", measured, limit))
    print(f"\nload average {httpbench.load_average()}")


if __name__ == "__main__":
    main()
