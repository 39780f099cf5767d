"""The stack under mixed load for ``--minutes``: ``.venv/bin/python bench/soak.py``.

Starts the stack as a 2-core production start runs it, on a throw-away PostgreSQL
database and Redis: the web server (``httpbench.serving``: granian with
``config/granian.py``, 2 processes x 4 threads), one Celery worker with 2 processes and
beat with the schedule of ``config/settings.py``, beside a one-INSERT ceiling server
(``bench/ceiling.py``). After every one of ``--contacts`` contacts has written once (their
leads exist) it sends, all at once and for the whole run, a steady paced load with ``wrk``
(``bench/wrk/post.lua``, one process per route, each connection waiting between answers):

* signed WhatsApp webhooks, each with one new inbound message and one delivery status of
  our earlier sends (signed with the channel's app secret, as ``bench/webhooks.py`` does);
* ``POST /api/v1/leads`` (a new lead each) and ``GET /api/v1/leads`` with an owner key;
* signed-in page views: the lead list, the inbox and the page of a lead whose
  conversation grows during the run;

and now and then, from a thread here over HTTP: a CSV import through the upload and
mapping pages (run by the worker), and a whole-workspace export through the API (started,
polled and downloaded). ``--load`` scales every rate.

It reports errors (the goal is 0): answers other than the route's intended status, socket
errors and timeouts, an import or export that did not finish as it should, deliveries left
unprocessed or unprocessable, inbound messages or statuses lost, error lines in the
worker's or beat's log, a process that exited or was replaced, and an audit chain that does
not verify. Then p50 and p99 per route, each route's rate as a share of the ceiling
(measured before and after the load, with nothing else running), and RSS over time of each
process (``bench/rss.py``, every ``--sample`` seconds) with a verdict on flatness. It exits
non-zero on any error or growth.

``DATABASE_URL`` is an admin connection (``<its database>_bench_soak`` is created and
dropped); ``REDIS_URL`` and ``CELERY_BROKER_URL`` are required::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h5 REDIS_URL=redis://127.0.0.1:6379/8 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import ceiling
import httpbench
import leads as bench  # bench/leads.py: names and phone numbers
import rss
import servers  # bench/servers.py: the workspace, an owner key and a signed-in session
import webhooks
from httpbench import Load, Server
from leads_api import lead_body

CEILING_LEVEL = 4
CEILING_SECONDS = 10
JOB_TIMEOUT_SECONDS = 600
DRAIN_TIMEOUT_SECONDS = 300
# Imported rows get numbers of their own, so an import never merges into the API's leads.
IMPORT_FIRST_PHONE = bench.FIRST_PHONE + 500_000_000
HTTP_TIMEOUT_SECONDS = 120
LOG_ERROR = re.compile(rb"\b(ERROR|CRITICAL)\b|Traceback")


@dataclass(frozen=True)
class Route:
    """One wrk process for the whole run: at most ``rate`` requests a second over
    ``connections`` (each waits for its share of a second after every answer)."""

    label: str
    path: str
    rate: float
    connections: int = 1
    expect: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    line_header: str | None = None
    repeat: bool = True

    def delay_ms(self, scale: float) -> float:
        return self.connections * 1000 / (self.rate * scale)


@dataclass
class Outcome:
    """What a route's run or an occasional job left: its load or its duration, and errors."""

    label: str
    load: Load | None = None
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


class NoAnswer(Exception):
    """A job's request that timed out: an error of the run, not the end of it."""


class Http:
    """A small client for the occasional jobs: the session cookie or the key goes along."""

    def __init__(self, base: str, cookie: str, key: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = str(parts.hostname), int(parts.port or 80)
        self.cookie, self.key = cookie, key

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        api: bool = False,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_SECONDS)
        auth = {"Authorization": f"Bearer {self.key}"} if api else {"Cookie": self.cookie}
        try:
            connection.request(method, path, body=body, headers={**auth, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        except TimeoutError:
            raise NoAnswer(f"{method} {path}: no answer within {HTTP_TIMEOUT_SECONDS} s") from None
        finally:
            connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10, help="length of the load")
    parser.add_argument("--load", type=float, default=1.0, help="scale of every route's rate")
    parser.add_argument("--sample", type=float, default=30, help="seconds between RSS samples")
    parser.add_argument("--leads", type=int, default=5_000, help="leads prefilled")
    parser.add_argument("--import-rows", type=int, default=1_000, help="rows of each CSV import")
    parser.add_argument("--import-every", type=float, default=180, help="seconds between imports")
    parser.add_argument("--export-every", type=float, default=240, help="seconds between exports")
    parser.add_argument("--workers", type=int, default=2, help="web server processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per web process")
    parser.add_argument("--task-workers", type=int, default=2, help="Celery processes")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres") or not all(
        os.environ.get(name) for name in ("REDIS_URL", "CELERY_BROKER_URL")
    ):
        raise SystemExit(
            "bench/soak.py needs DATABASE_URL=postgres://… (an admin connection), REDIS_URL "
            "and CELERY_BROKER_URL (see the docstring)."
        )
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        httpbench.bench_database(admin_url, "soak") as database_url,
    ):
        env = httpbench.server_environment(workdir=workdir, database_url=database_url)
        webhooks._setup_django(env)
        targets = servers._setup(Path(workdir), args.leads)
        errors = _soak(args, env=env, targets=targets, workdir=Path(workdir))
    raise SystemExit(1 if errors else 0)


def _soak(args: argparse.Namespace, *, env: dict[str, str], targets: Any, workdir: Path) -> int:
    from django.db import connection

    from heroshhi.workspaces.models import Workspace

    workspace = Workspace.objects.get(slug="bench")
    server = Server(workers=args.workers, threads=args.threads)
    seconds = args.minutes * 60
    with ExitStack() as stack:
        worker_log = stack.enter_context((workdir / "worker.log").open("w+b"))
        beat_log = stack.enter_context((workdir / "beat.log").open("w+b"))
        top = stack.enter_context(ceiling.running(server, env))
        base = stack.enter_context(httpbench.serving(server, env))
        worker = stack.enter_context(webhooks._task_worker(env, args.task_workers, worker_log))
        beat_argv = [sys.executable, "-m", "celery", "-A", "config", "--quiet", "beat"]
        beat_argv += ["-l", "WARNING", "-s", str(workdir / "celerybeat-schedule")]
        beat = stack.enter_context(webhooks.child(beat_argv, env, beat_log))
        webhook_url = f"{base}/webhooks/whatsapp/{targets.channel_id}/"
        contacts = targets.serials.contacts
        webhooks._post_each(webhook_url, [webhooks._body([(c, c)], []) for c in range(contacts)])
        webhooks._wait_processed(workspace, worker, timeout=600)
        routes = _routes(targets, lead_id=_lead_of_first_contact(workspace))
        _write_bodies(routes, targets, workspace, workdir=workdir, seconds=seconds, scale=args.load)
        before = top.measure(CEILING_LEVEL, CEILING_SECONDS)
        connection.close()  # the stack is measured, not this process
        port = urlsplit(base).port
        watch = rss.RssWatch(
            {
                "web": rss.child_with_environment(f"HEROSHHI_BIND=127.0.0.1:{port}"),
                "celery worker": worker.pid,
                "beat": beat.pid,
            },
            every=args.sample,
        )
        print(
            f"{server.label}, Celery {args.task_workers} processes and beat; {args.leads:,} "
            f"leads, {contacts} contacts; wrk, {args.minutes:g} min, load x{args.load:g}; "
            f"load average {httpbench.load_average()}\n",
            flush=True,
        )
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        watch.start()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(routes) + 2) as pool:
            runs = [
                pool.submit(_drive, base, route, workdir, seconds=seconds, scale=args.load)
                for route in routes
            ]
            client = Http(base, f"sessionid={targets.session_cookie}", targets.api_key)
            rows = args.import_rows
            jobs = [
                pool.submit(
                    _now_and_then,
                    "CSV import",
                    lambda n: _import(client, workspace, rows=rows, first=n * rows),
                    first=20,
                    every=args.import_every,
                    deadline=started + seconds,
                ),
                pool.submit(
                    _now_and_then,
                    "workspace export",
                    lambda _n: _export(client),
                    first=60,
                    every=args.export_every,
                    deadline=started + seconds,
                ),
            ]
            outcomes = [run.result() for run in runs]
            outcomes += [outcome for job in jobs for outcome in job.result()]
        wall = time.monotonic() - started
        watch.stop()
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = top.measure(CEILING_LEVEL, CEILING_SECONDS)
        statuses = outcomes[0].load.requests if outcomes[0].load else 0
        checks = _final_checks(
            workspace, statuses=statuses, processes={"celery worker": worker, "beat": beat}
        )
        checks += _log_errors({"celery worker": worker_log, "beat": beat_log})
    client_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    return _report(outcomes, checks, ceilings=(before, after), watch=watch, cpu=client_cpu / wall)


def _routes(targets: Any, *, lead_id: uuid.UUID) -> list[Route]:
    bearer = {"Authorization": f"Bearer {targets.api_key}"}
    signed_in = {"Cookie": f"sessionid={targets.session_cookie}"}
    return [
        Route(
            "webhook (1 message + 1 status)",
            f"/webhooks/whatsapp/{targets.channel_id}/",
            rate=40,
            connections=2,
            line_header="X-Hub-Signature-256",
            repeat=False,
        ),
        Route("POST /api/v1/leads", "/api/v1/leads", 5, expect=201, headers=bearer, repeat=False),
        Route("GET /api/v1/leads", "/api/v1/leads", 5, headers=bearer),
        Route("GET /w/<slug>/leads/", "/w/bench/leads/", 2, headers=signed_in),
        Route("GET /w/<slug>/inbox/", "/w/bench/inbox/", 2, headers=signed_in),
        Route("GET /w/<slug>/leads/<id>/", f"/w/bench/leads/{lead_id}/", 2, headers=signed_in),
    ]


def _lead_of_first_contact(workspace: Any) -> uuid.UUID:
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.messaging.models import Conversation

    with workspace_scope(workspace):
        return Conversation.objects.order_by("created_at", "pk").values_list("lead_id", flat=True)[
            0
        ]


def _bodies_file(workdir: Path, route: Route) -> Path:
    return workdir / f"{re.sub(r'[^a-z]+', '-', route.label.lower()).strip('-')}.bodies"


def _write_bodies(
    routes: list[Route],
    targets: Any,
    workspace: Any,
    *,
    workdir: Path,
    seconds: float,
    scale: float,
) -> None:
    """Every body a route will send: new message ids and leads for the whole run (at most
    its rate, plus a margin), one GET for the pages; the sends the statuses report."""
    for route in routes:
        lines: Iterable[tuple[str, bytes | None]]
        count = int(route.rate * scale * seconds * 1.2) + 500 if not route.repeat else 1
        if route.line_header:
            sends = -(-count // len(webhooks.STATUS_STEPS))
            webhooks._seed_outbound(workspace, 0, sends)
            lines = (webhooks._signed(targets.serials.body(1, 1)) for _ in range(count))
        elif route.expect == 201:
            first, targets.next_lead = targets.next_lead, targets.next_lead + count
            lines = (("", lead_body(n)) for n in range(first, first + count))
        else:
            lines = iter([("", None)])
        httpbench.write_bodies(_bodies_file(workdir, route), lines)


def _drive(base: str, route: Route, workdir: Path, *, seconds: float, scale: float) -> Outcome:
    load = httpbench.wrk(
        base + route.path,
        _bodies_file(workdir, route),
        concurrency=route.connections,
        seconds=seconds,
        expect=route.expect,
        line_header=route.line_header,
        headers=route.headers,
        repeat=route.repeat,
        delay_ms=route.delay_ms(scale),
        strict=False,
    )
    outcome = Outcome(route.label, load=load, seconds=load.seconds)
    if load.unexpected:
        outcome.errors.append(
            f"{load.unexpected} answers were not HTTP {route.expect} (e.g. {load.last_unexpected})"
        )
    if load.socket_errors:
        outcome.errors.append(f"{load.socket_errors} socket errors or timeouts")
    return outcome


# Occasional jobs -------------------------------------------------------------------------


def _now_and_then(
    job_name: str,
    job: Callable[[int], Outcome],
    *,
    first: float,
    every: float,
    deadline: float,
) -> list[Outcome]:
    """``job(n)`` at ``first`` seconds into the load and every ``every`` seconds after,
    each run after the previous one has finished, until the load ends."""
    from django.db import connections

    due = time.monotonic() + first
    outcomes: list[Outcome] = []
    try:
        while due < deadline:
            time.sleep(max(0.0, due - time.monotonic()))
            began = time.monotonic()
            try:
                outcome = job(len(outcomes))
            except NoAnswer as exc:
                outcome = Outcome(f"{job_name} #{len(outcomes) + 1}", errors=[str(exc)])
            outcome.seconds = time.monotonic() - began
            outcomes.append(outcome)
            due += every
        return outcomes
    finally:
        connections.close_all()


def _csrf_token(page: bytes) -> str:
    found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not found:
        raise SystemExit("the page has no CSRF token")
    return found.group(1).decode()


def _import(client: Http, workspace: Any, *, rows: int, first: int) -> Outcome:
    """Upload, map as suggested and start through the pages, then wait for the worker."""
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads import importing
    from heroshhi.leads.models import LeadImport

    outcome = Outcome(f"CSV import, {rows:,} rows")
    began = time.monotonic()
    names = bench.FIRST_NAMES, bench.LAST_NAMES
    lines = ["Name,Mobile,Email"] + [
        f"{names[0][n % len(names[0])]} {names[1][n % len(names[1])]},"
        f"{IMPORT_FIRST_PHONE + n},imported{n}@example.com"
        for n in range(first, first + rows)
    ]
    status, headers, page = client.request("GET", "/w/bench/leads/import/")
    cookie = re.search(r"csrftoken=([^;]+)", "; ".join(headers.get_all("Set-Cookie") or []))
    if status != 200 or not cookie:
        outcome.errors.append(f"the upload page answered HTTP {status}")
        return outcome
    client_cookie = f"{client.cookie}; csrftoken={cookie.group(1)}"
    boundary = uuid.uuid4().hex
    form = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f"{_csrf_token(page)}\r\n--{boundary}\r\nContent-Disposition: form-data; "
        f'name="file"; filename="leads.csv"\r\nContent-Type: text/csv\r\n\r\n'
        + "\n".join(lines)
        + f"\r\n--{boundary}--\r\n"
    ).encode()
    status, headers, _ = client.request(
        "POST",
        "/w/bench/leads/import/",
        body=form,
        headers={
            "Cookie": client_cookie,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    if status != 302:
        outcome.errors.append(f"the upload answered HTTP {status}")
        return outcome
    map_path = headers["Location"]
    import_id = map_path.rstrip("/").rsplit("/", 1)[-1]
    status, _, page = client.request("GET", map_path, headers={"Cookie": client_cookie})
    mapping = importing.guess_mapping(["Name", "Mobile", "Email"])
    fields = {f"col{index}": target for index, target in mapping.items()}
    status, _, _ = client.request(
        "POST",
        map_path,
        body=urlencode({"csrfmiddlewaretoken": _csrf_token(page), **fields}).encode(),
        headers={"Cookie": client_cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    if status != 302:
        outcome.errors.append(f"starting the import answered HTTP {status}")
        return outcome
    pages = time.monotonic() - began
    finished = (LeadImport.Status.DONE, LeadImport.Status.FAILED)
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    with workspace_scope(workspace):
        while (row := LeadImport.objects.get(pk=import_id)).status not in finished:
            if time.monotonic() > deadline:
                outcome.errors.append(f"still {row.status} after {JOB_TIMEOUT_SECONDS} s")
                return outcome
            time.sleep(1)
    if row.status != LeadImport.Status.DONE or (row.created, row.updated, row.failed) != (
        rows,
        0,
        0,
    ):
        outcome.errors.append(
            f"{row.status}: {row.created} created, {row.updated} merged, {row.failed} failed"
        )
    if row.started_at and row.finished_at:
        waited = (row.started_at - row.created_at).total_seconds()
        ran = (row.finished_at - row.started_at).total_seconds()
        outcome.label += f" (pages {pages:.0f} s, queued {waited:.0f} s, ran {ran:.0f} s)"
    return outcome


def _export(client: Http) -> Outcome:
    """Start a whole-workspace export through the API, wait until it is ready, download it."""
    outcome = Outcome("workspace export")
    status, _, body = client.request("POST", "/api/v1/workspace/export", api=True)
    if status != 202:
        outcome.errors.append(f"starting it answered HTTP {status}")
        return outcome
    path = f"/api/v1/workspace/export/{json.loads(body)['id']}"
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while (state := json.loads(client.request("GET", path, api=True)[2])["status"]) in (
        "queued",
        "running",
    ):
        if time.monotonic() > deadline:
            outcome.errors.append(f"still {state} after {JOB_TIMEOUT_SECONDS} s")
            return outcome
        time.sleep(1)
    if state != "ready":
        outcome.errors.append(f"it ended {state}")
        return outcome
    status, _, archive = client.request("GET", f"{path}/file", api=True)
    if status != 200 or not archive.startswith(b"PK"):
        outcome.errors.append(f"the download answered HTTP {status} ({len(archive):,} bytes)")
    outcome.label += f" ({len(archive) / 1e6:,.1f} MB)"
    return outcome


# After the load --------------------------------------------------------------------------


def _final_checks(workspace: Any, *, statuses: int, processes: dict[str, Any]) -> list[str]:
    """Errors the load left behind once the worker has drained what it was given;
    ``statuses`` is how many delivery statuses were acknowledged (sent, delivered, read of
    each send in turn)."""
    from heroshhi.audit.selectors import audit_queue
    from heroshhi.audit.services import chain_for
    from heroshhi.audit.verify import verify_chain
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.messaging.models import Message
    from heroshhi.whatsapp.models import WebhookDelivery

    errors = [f"the {name} exited ({p.returncode})" for name, p in processes.items() if p.poll()]
    chain = chain_for(workspace)
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    with workspace_scope(workspace):
        deliveries = WebhookDelivery.objects.all()
        while time.monotonic() < deadline and (
            deliveries.filter(status=WebhookDelivery.Status.RECEIVED).exists()
            or audit_queue(chain).count
        ):
            time.sleep(1)
        left = deliveries.filter(status=WebhookDelivery.Status.RECEIVED).count()
        failed = deliveries.filter(status=WebhookDelivery.Status.UNPROCESSABLE).count()
        stored = deliveries.count()
        inbound = Message.objects.filter(direction=Message.Direction.INBOUND).count()
        read = Message.objects.filter(
            direction=Message.Direction.OUTBOUND, status=Message.Status.READ
        ).count()
    if left:
        errors.append(f"{left:,} deliveries left unprocessed after {DRAIN_TIMEOUT_SECONDS} s")
    if failed:
        errors.append(f"{failed:,} deliveries unprocessable")
    if inbound != stored:  # every delivery carried one new message
        errors.append(f"{stored:,} deliveries stored but {inbound:,} inbound messages")
    # The last send may have had its "read" in flight when wrk stopped counting.
    if read < statuses // len(webhooks.STATUS_STEPS) - 1:
        errors.append(f"{statuses:,} statuses acknowledged but only {read:,} sends read")
    result = verify_chain(chain)
    if not result.ok or result.queue.count:
        errors.append(f"the audit chain does not verify: {result}")
    print(
        f"{stored:,} deliveries processed: {inbound:,} inbound messages stored, {read:,} of "
        "our sends read",
        flush=True,
    )
    return errors


def _log_errors(logs: dict[str, Any]) -> list[str]:
    errors = []
    for name, log in logs.items():
        log.seek(0)
        bad = [line for line in log.read().splitlines() if LOG_ERROR.search(line)]
        if bad:
            shown = bad[0].decode(errors="replace")[:200]
            errors.append(f"{len(bad)} error lines in the {name}'s log, e.g. {shown}")
    return errors


def _report(
    outcomes: list[Outcome],
    checks: list[str],
    *,
    ceilings: tuple[Load, Load],
    watch: rss.RssWatch,
    cpu: float,
) -> int:
    print(httpbench.header_line(f"one INSERT (ceiling), c={CEILING_LEVEL}"))
    for moment, limit in zip(("before", "after"), ceilings, strict=True):
        print(httpbench.figure_line(f"  {moment} the load", limit))
    ceiling_rate = sum(limit.rate for limit in ceilings) / len(ceilings)
    print(f"\n{'route':<36} {'requests':>9} {'req/s':>7} {'p50':>9} {'p99':>9} {'of ceil.':>9}")
    total = 0.0
    for outcome in outcomes:
        if load := outcome.load:
            total += load.rate
            print(
                f"{outcome.label:<36} {load.requests:>9,} {load.rate:>7.1f} {load.p50_ms:>7.1f}ms "
                f"{load.p99_ms:>7.1f}ms {load.rate / ceiling_rate:>9.1%}"
            )
    print(
        f"{'all routes together':<36} {'':>9} {total:>7.1f} {'':>19} {total / ceiling_rate:>9.1%}"
    )
    print(f"(wrk, all its processes: {cpu:.0%} of one core)\n")
    for outcome in outcomes:
        if outcome.load is None:
            verdict = "ok" if not outcome.errors else "FAILED"
            print(f"{outcome.label:<36} {outcome.seconds:>7.1f} s  {verdict}")
    lines, flat = watch.report()
    print(f"\nRSS in MB, every {watch.every:g} s from the start of the load")
    print("\n".join(lines))
    errors = [f"{o.label}: {e}" for o in outcomes for e in o.errors] + checks
    errors += [f"{name} started or ended during the load" for name in watch.replaced()]
    print(f"\nerrors: {len(errors)}")
    for error in errors:
        print(f"  {error}")
    print(f"RSS: {'flat' if flat else 'GROWING'}; load average {httpbench.load_average()}")
    return len(errors) + (0 if flat else 1)


if __name__ == "__main__":
    main()
