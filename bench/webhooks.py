"""WhatsApp webhook intake: ``.venv/bin/python bench/webhooks.py``.

Starts the stack as a 2-core production start runs it (the web server, 2 processes x 4
threads; one Celery worker with 2 processes at its default lowered priority) on a
throw-away PostgreSQL database, beside a one-INSERT ceiling server with the same settings
(``bench/ceiling.py``). For one and for 20 events per POST, at concurrency 4 and 16, it
measures first the ceiling and then the webhook, and prints:

* acks/s and ack p50 / p99, with the acks as a share of the ceiling (the budget: ≥ 60 %,
  p99 ≤ 50 ms at concurrency 4): verify the signature, store the body, answer 200;
* processed events/s: items fully applied by the workers, from the first POST until no
  delivery is left unprocessed (the budget: ≥ 1,000/s with one event per POST, ≥ 3,000/s
  with 20). An item is an inbound message (lead matched, message encrypted, conversation,
  counters and timeline updated) or, with ``--statuses``, a delivery status of one of our
  sends.

The client is ``wrk`` (``bench/httpbench.py``): every body is made and signed beforehand
with new message ids, twice as many as the ceiling's rate could send in the run, and the
Lua script sends each once. First every contact of the pool writes once (that creates
their leads), so the runs measure contacts the business already talks to; ``--statuses
0.5`` makes half of each POST's items statuses (sent, delivered, read of sends seeded
before each run).

What it needs (it refuses to run without both; SQLite cannot take a web server and a worker
writing at once at these rates):

* ``DATABASE_URL``: an admin connection to PostgreSQL; the database
  ``<its name>_bench_webhooks`` is created there and dropped at the end.
* ``CELERY_BROKER_URL``: Redis (or RabbitMQ). ``REDIS_URL`` (cache, rate limits) is used
  when set.

::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6 REDIS_URL=redis://127.0.0.1:6379/6 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/webhooks.py
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import ceiling
import httpbench
from httpbench import Server

APP_SECRET = "bench-app-secret"  # noqa: S105 -- throw-away channel
PASSWORD = "bench password 2026 not secret"  # noqa: S105 -- throw-away database
PHONE_NUMBER_ID = "100000000000001"
LEVELS = (4, 16)
BATCHES = (1, 20)
STATUS_STEPS = ("sent", "delivered", "read")


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


def _wait_processed(workspace: Any, worker: subprocess.Popen[bytes], timeout: float) -> float:
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
        if worker.poll() is not None:
            raise SystemExit(f"the Celery worker exited with status {worker.returncode}")
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


def _signed(body: bytes) -> tuple[str, bytes]:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest(), body


@contextmanager
def _task_worker(
    env: dict[str, str], processes: int, log: IO[bytes] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """The Celery worker as ``make run`` starts it (its priority lowered by default);
    its output goes to ``log`` when given."""
    argv = [sys.executable, "-m", "celery", "-A", "config", "--quiet", "worker", "-l", "WARNING"]
    with child([*argv, f"--concurrency={processes}"], env, log) as worker:
        yield worker


@contextmanager
def child(
    argv: list[str], env: dict[str, str], log: IO[bytes] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A process of the stack until the block ends, then stopped as a deploy stops it."""
    process = subprocess.Popen(  # noqa: S603 -- our own interpreter and app
        argv, cwd=httpbench.ROOT, env=env, stdout=log, stderr=log
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _post_each(url: str, bodies: list[bytes]) -> None:
    """One keep-alive connection posting each body in turn (the warm-up, not measured)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=60)
    for body in bodies:
        signature, _ = _signed(body)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"warm-up webhook answered HTTP {response.status}")
    connection.close()


def _setup() -> tuple[Any, Any]:
    from heroshhi.accounts.services import user_create
    from heroshhi.core.actors import Actor
    from heroshhi.leads.models import AssignmentSettings
    from heroshhi.leads.services.assignment import assignment_settings_update
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
    return workspace, channel


def _deliveries(workspace: Any) -> int:
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.whatsapp.models import WebhookDelivery

    with workspace_scope(workspace):
        return WebhookDelivery.objects.count()


class _Serials:
    """Message and status serials, so that no id is ever sent twice."""

    def __init__(self, contacts: int) -> None:
        self.contacts = contacts
        self.message = contacts
        self.status = 0

    def body(self, messages: int, statuses: int) -> bytes:
        items = [(self.message + i, (self.message + i) % self.contacts) for i in range(messages)]
        steps = [
            (
                (self.status + i) // len(STATUS_STEPS),
                STATUS_STEPS[(self.status + i) % len(STATUS_STEPS)],
            )
            for i in range(statuses)
        ]
        self.message += messages
        self.status += statuses
        return _body(items, steps)


def _run(args: argparse.Namespace, *, server: Server, env: dict[str, str], workdir: Path) -> None:
    from django.db import connection

    workspace, channel = _setup()
    serials = _Serials(args.contacts)
    bodies_file = workdir / "webhooks.bodies"
    print(
        f"{connection.vendor}; {server.label}, Celery {args.task_workers} processes; wrk, "
        f"{args.seconds:.0f} s a run; {args.contacts:,} contacts; Python "
        f"{sys.version.split()[0]}; load average {httpbench.load_average()}\n"
    )
    with (
        ceiling.running(server, env) as top,
        httpbench.serving(server, env) as base,
        _task_worker(env, args.task_workers) as worker,
    ):
        url = f"{base}/webhooks/whatsapp/{channel.pk}/"
        # Every contact writes once, which creates their lead: the runs then measure the
        # steady state of contacts the business already talks to.
        started = time.perf_counter()
        _post_each(url, [_body([(c, c)], []) for c in range(args.contacts)])
        done = _wait_processed(workspace, worker, timeout=600)
        print(f"new contacts: {args.contacts:,} leads at {args.contacts / (done - started):,.0f}/s")
        print(f"\n{'':<40} {'':>8} {'ack':>9} {'ack':>9} {'':>11} {'':>7} {'processed':>10}")
        print(httpbench.header_line() + f" {'events/s':>10}")
        for batch in args.batches:
            statuses = round(batch * args.statuses)
            messages = batch - statuses
            for level in LEVELS:
                limit = top.measure(level, args.seconds)
                count = httpbench.enough(limit.rate, args.seconds)
                if statuses:
                    sends = -(-count * statuses // len(STATUS_STEPS))
                    _seed_outbound(workspace, serials.status // len(STATUS_STEPS), sends)
                httpbench.write_bodies(
                    bodies_file, (_signed(serials.body(messages, statuses)) for _ in range(count))
                )
                # Statuses of one send stay together: the next run starts on a new send.
                serials.status = -(-serials.status // len(STATUS_STEPS)) * len(STATUS_STEPS)
                before = _deliveries(workspace)
                started = time.perf_counter()
                load = httpbench.wrk(
                    url,
                    bodies_file,
                    concurrency=level,
                    seconds=args.seconds,
                    line_header="X-Hub-Signature-256",
                )
                done = _wait_processed(workspace, worker, timeout=600)
                events = (_deliveries(workspace) - before) * batch
                label = f"one INSERT (ceiling), c={level}"
                print(httpbench.figure_line(label, limit))
                label = f"webhook, {batch} event{'s' if batch > 1 else ''}/POST, c={level}"
                rate = events / (done - started)
                print(httpbench.figure_line(label, load, limit) + f" {rate:>10,.0f}")
    print(f"\nload average {httpbench.load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each run")
    parser.add_argument(
        "--batches",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(BATCHES),
        help="events per POST, comma-separated (default 1,20)",
    )
    parser.add_argument(
        "--statuses",
        type=float,
        default=0.0,
        help="share of each POST's items that are delivery statuses (0 to 1)",
    )
    parser.add_argument("--contacts", type=int, default=500, help="distinct senders")
    parser.add_argument("--server", choices=httpbench.SERVERS, default=httpbench.PRODUCTION_SERVER)
    parser.add_argument("--workers", type=int, default=2, help="web server processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per web process")
    parser.add_argument("--task-workers", type=int, default=2, help="Celery processes")
    args = parser.parse_args()
    args.statuses = min(max(args.statuses, 0.0), 1.0)
    admin_url = os.environ.get("DATABASE_URL", "")
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not admin_url.startswith("postgres") or not broker:
        raise SystemExit(
            "bench/webhooks.py needs PostgreSQL and a broker: set DATABASE_URL=postgres://… "
            "(an admin connection) and CELERY_BROKER_URL=redis://… (see the docstring)."
        )
    server = Server(kind=args.server, workers=args.workers, threads=args.threads)
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        httpbench.bench_database(admin_url, "webhooks") as database_url,
    ):
        env = httpbench.server_environment(workdir=workdir, database_url=database_url)
        _setup_django(env)
        _run(args, server=server, env=env, workdir=Path(workdir))


def _setup_django(env: dict[str, str]) -> None:
    """This process on the server's settings and database, migrated."""
    os.environ.update(env)
    sys.path.insert(0, str(httpbench.ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


if __name__ == "__main__":
    main()
