"""WhatsApp webhook intake at rising concurrency: ``.venv/bin/python bench/webhooks.py``.

Starts the real stack on a throw-away database, POSTs signed Cloud API webhooks at
concurrency 1, 4, 16 and 32, and prints for each level:

* ack latency p50 / p99 (the budget: p99 ≤ 50 ms): store the body, answer 200;
* ack throughput (requests/s the web server acknowledged);
* processed events/s: items fully applied by the workers, from the first POST until no
  delivery is left unprocessed (the budget: ≥ 3,000 events/s on 2 cores with PostgreSQL).
  An item is an inbound message (lead matched, message encrypted, conversation, counters
  and timeline updated) or, with ``--statuses``, a delivery status of one of our sends.

First every contact of the pool writes once (that creates their leads; the rate is printed),
so the levels measure contacts the business already talks to. ``--batch`` items go in each
POST, as Meta batches them under load; ``--statuses 0.5`` makes half of them statuses
(sent, delivered, read of sends seeded before each level).

What it needs (it refuses to run without both; SQLite cannot take a web server and a worker
writing at once at these rates):

* ``DATABASE_URL``: an admin connection to PostgreSQL, e.g.
  ``postgres://postgres@127.0.0.1:5432/postgres``. The database ``heroshhi_bench_webhooks``
  is created there and dropped at the end.
* ``CELERY_BROKER_URL``: Redis (or RabbitMQ), e.g. ``redis://127.0.0.1:6379/1``.
  ``REDIS_URL`` (cache, rate limits) is used when set.

It runs gunicorn (``--web-workers`` processes, 4 threads each) and one Celery worker
(``--task-workers`` processes) as subprocesses, with keys and files in a temporary folder;
the load comes from separate processes::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/1 REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/webhooks.py --requests 400 --batch 20 --statuses 0.5
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "heroshhi_bench_webhooks"
APP_SECRET = "bench-app-secret"  # noqa: S105 -- throw-away channel
PASSWORD = "bench password 2026 not secret"  # noqa: S105 -- throw-away database
PHONE_NUMBER_ID = "100000000000001"
LEVELS = (1, 4, 16, 32)


# The stack ------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def _bench_database(admin_url: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DATABASE))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DATABASE)))
    try:
        yield _with_database(admin_url, BENCH_DATABASE)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(drop)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(workdir: str, database_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HEROSHHI_MASTER_KEYS", "HEROSHHI_MASTER_KEYS_FILE")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="development",
        DJANGO_DEBUG="false",
        HEROSHHI_VAR_DIR=workdir,
        DATABASE_URL=database_url,
        HEROSHHI_WEBHOOK_RATE_LIMIT="100000000",
        LOG_LEVEL="warning",
        PYTHONPATH=str(ROOT),
    )
    return env


def _setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@contextmanager
def _processes(env: dict[str, str], *, port: int, web: int, tasks: int) -> Iterator[None]:
    bin_dir = Path(sys.executable).parent
    web_server = subprocess.Popen(  # noqa: S603 -- our own interpreter and apps
        [
            str(bin_dir / "gunicorn"),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={web}",
            "--threads=4",
            "--worker-class=gthread",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
    )
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config.celery",
            "worker",
            f"--concurrency={tasks}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        _wait_for_port(port)
        yield
    finally:
        for process in (web_server, worker):
            process.terminate()
        for process in (web_server, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the web server did not listen on {port} within {timeout:.0f} s")


# Load -----------------------------------------------------------------------------------


def _wa_id(contact: int) -> str:
    return f"9190{contact:08d}"


def _body(messages: list[tuple[int, int]], statuses: list[tuple[int, str]]) -> bytes:
    """One signed-to-be POST: inbound messages (serial, contact) and delivery statuses
    (outbound serial, status) for our own earlier sends."""
    now = str(int(time.time()))
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000001", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = [
            {"profile": {"name": f"Bench {contact}"}, "wa_id": _wa_id(contact)}
            for _serial, contact in messages
        ]
        value["messages"] = [
            {
                "from": _wa_id(contact),
                "id": f"wamid.bench.{serial}",
                "timestamp": now,
                "type": "text",
                "text": {"body": f"Message {serial}"},
            }
            for serial, contact in messages
        ]
    if statuses:
        value["statuses"] = [
            {"id": f"wamid.out.{serial}", "status": status, "timestamp": now, "recipient_id": "0"}
            for serial, status in statuses
        ]
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body, separators=(",", ":")).encode()


# Load generators run in their own processes: client threads sharing one interpreter would
# queue on its lock and add that wait to the latencies measured.
CLIENT_PROCESSES = 4


def _post_all(url: str, shares: list[list[tuple[bytes, str]]], start: Any, out: Any) -> None:
    """One load-generator process: a thread and a keep-alive connection per share."""
    import http.client

    parts = urlsplit(url)
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def work(share: list[tuple[bytes, str]]) -> None:
        connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=60)
        start.wait()
        for body, signature in share:
            started = time.perf_counter()
            connection.request(
                "POST",
                parts.path,
                body=body,
                headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
            )
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    failures.append(response.status)
        connection.close()

    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.send((latencies, failures))


def _fire(url: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], float, float]:
    """POST every body over ``concurrency`` connections; (ack latencies in ms, the moment
    the first POST went out, seconds until the last was acknowledged)."""
    import multiprocessing

    signed = [
        (body, "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest())
        for body in bodies
    ]
    shares = [signed[n::concurrency] for n in range(concurrency)]
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    processes, pipes = [], []
    for p in range(min(concurrency, CLIENT_PROCESSES)):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_post_all, args=(url, shares[p::CLIENT_PROCESSES], start, sender)
        )
        process.start()
        processes.append(process)
        pipes.append(receiver)
    time.sleep(1.0)  # every process up and connected before the clock starts
    started = time.perf_counter()
    start.set()
    latencies: list[float] = []
    failures: list[int] = []
    for receiver in pipes:
        got, failed = receiver.recv()
        latencies += got
        failures += failed
    wall = time.perf_counter() - started
    for process in processes:
        process.join()
    if failures:
        raise SystemExit(f"{len(failures)} webhook POSTs failed, e.g. HTTP {failures[0]}")
    return latencies, started, wall


def _wait_processed(workspace: Any, timeout: float) -> float:
    """Until no delivery is left unprocessed; the moment that was seen."""
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.whatsapp.models import WebhookDelivery

    deadline = time.monotonic() + timeout
    while True:
        # Two index lookups: reading every delivery's status each time would take CPU from
        # the stack being measured as the table grows.
        with workspace_scope(workspace):
            left = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED).count()
            failed = WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.UNPROCESSABLE
            ).count()
        if failed:
            raise SystemExit(f"{failed} deliveries could not be processed")
        if left == 0:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise SystemExit(f"{left:,} deliveries still unprocessed after {timeout:.0f} s")
        time.sleep(0.05)


def _seed_outbound(workspace: Any, first: int, count: int) -> None:
    """Our own sends, one per known contact in turn, whose statuses the next level reports."""
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.messaging.models import Conversation, Message

    with workspace_scope(workspace):
        conversations = list(Conversation.objects.order_by("pk"))
        Message.objects.bulk_create(
            Message(
                workspace=workspace,
                conversation=conversation,
                lead_id=conversation.lead_id,
                direction=Message.Direction.OUTBOUND,
                kind=Message.Kind.TEXT,
                body="Thanks for writing",
                provider_message_id=f"wamid.out.{serial}",
                status=Message.Status.PENDING,
            )
            for serial in range(first, first + count)
            for conversation in [conversations[serial % len(conversations)]]
        )


def _run(*, url: str, requests: int, batch: int, statuses_share: float, contacts: int) -> None:
    from django.db import connection

    from heroshhi.accounts.services import user_create
    from heroshhi.core.actors import Actor
    from heroshhi.leads.assignment import assignment_settings_update
    from heroshhi.leads.models import AssignmentSettings
    from heroshhi.whatsapp.services import channel_create
    from heroshhi.workspaces.permissions import Role
    from heroshhi.workspaces.services import membership_create, workspace_create

    owner = user_create(email="owner@bench.heroshhi.test", password=PASSWORD)
    workspace = workspace_create(actor=Actor.system(), name="Bench", slug="bench", owner=owner)
    for n in (1, 2):
        sales = user_create(email=f"sales{n}@bench.heroshhi.test", password=PASSWORD)
        membership_create(workspace=workspace, user=sales, role=Role.SALES)
    actor = Actor.user(owner.pk, role=Role.OWNER)
    assignment_settings_update(
        workspace=workspace,
        actor=actor,
        mode=AssignmentSettings.Mode.ROUND_ROBIN,
        sales_see_unassigned_pool=False,
        source_members={},
    )
    channel = channel_create(
        workspace=workspace,
        actor=actor,
        phone_number_id=PHONE_NUMBER_ID,
        waba_id="200000000000001",
        display_phone_number="15550000001",
        access_token="bench-token",  # noqa: S106 -- the channel is never called
        app_secret=APP_SECRET,
        verify_token="bench-verify",  # noqa: S106
    )
    webhook = f"{url}/webhooks/whatsapp/{channel.pk}/"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    per_post_statuses = round(batch * statuses_share)
    per_post_messages = batch - per_post_statuses
    print(
        f"{connection.vendor}; {requests:,} POSTs per level, each {per_post_messages} inbound "
        f"message(s) and {per_post_statuses} status(es); {contacts:,} contacts; "
        f"Python {sys.version.split()[0]}; load average {load}\n"
    )
    # Every contact writes once, which creates their lead: the levels then measure the
    # steady state of contacts the business already talks to.
    warm_up = [_body([(contact, contact)], []) for contact in range(contacts)]
    _latencies, started, _wall = _fire(webhook, warm_up, 4)
    done = _wait_processed(workspace, timeout=600)
    print(f"new contacts: {contacts:,} leads created at {contacts / (done - started):,.0f}/s\n")

    print(f"{'concurrency':>11} {'ack p50':>10} {'ack p99':>10} {'acks/s':>9} {'events/s':>10}")
    message_serial, status_serial = contacts, 0
    steps = ("sent", "delivered", "read")
    for level in LEVELS:
        status_count = requests * per_post_statuses
        sends = -(-status_count // len(steps))
        _seed_outbound(workspace, status_serial // len(steps), sends)
        bodies = []
        for _ in range(requests):
            messages = [
                (message_serial + i, (message_serial + i) % contacts)
                for i in range(per_post_messages)
            ]
            statuses = [
                ((status_serial + i) // len(steps), steps[(status_serial + i) % len(steps)])
                for i in range(per_post_statuses)
            ]
            message_serial += per_post_messages
            status_serial += per_post_statuses
            bodies.append(_body(messages, statuses))
        status_serial = -(-status_serial // len(steps)) * len(steps)
        latencies, started, wall = _fire(webhook, bodies, level)
        done = _wait_processed(workspace, timeout=600)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        events_per_second = requests * batch / (done - started)
        print(
            f"{level:>11} {statistics.median(latencies):>8.1f}ms {cuts[98]:>8.1f}ms "
            f"{requests / wall:>9,.0f} {events_per_second:>10,.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="POSTs per concurrency level")
    parser.add_argument("--batch", type=int, default=1, help="events (items) per POST")
    parser.add_argument(
        "--statuses",
        type=float,
        default=0.0,
        help="share of each POST's items that are delivery statuses (0 to 1)",
    )
    parser.add_argument("--contacts", type=int, default=500, help="distinct senders")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--task-workers", type=int, default=2, help="Celery processes")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not admin_url.startswith("postgres") or not broker:
        raise SystemExit(
            "bench/webhooks.py needs PostgreSQL and a broker: set DATABASE_URL=postgres://… "
            "(an admin connection) and CELERY_BROKER_URL=redis://… (see the docstring)."
        )
    port = _free_port()
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        _bench_database(admin_url) as database_url,
    ):
        env = _environment(workdir, database_url)
        _setup_django(env)
        with _processes(env, port=port, web=args.web_workers, tasks=args.task_workers):
            _run(
                url=f"http://127.0.0.1:{port}",
                requests=args.requests,
                batch=args.batch,
                statuses_share=min(max(args.statuses, 0.0), 1.0),
                contacts=args.contacts,
            )


if __name__ == "__main__":
    main()
