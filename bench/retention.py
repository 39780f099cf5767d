"""Retention purge throughput: ``.venv/bin/python bench/retention.py``.

Seeds leads that have sat in the trash for 40 days, each with a WhatsApp conversation of 10
messages, a note, a consent record and timeline entries, then times the retention engine
(``retention_run`` limited to the workspace, batches of 500 leads, one transaction and one
audit event per batch) removing all of it. A second phase times the owner's message
policy ("delete messages older than 30 days") on live leads with 10 old messages each.
Prints leads/s and messages/s for both, and peak RSS.

Databases, never the development one:

* default: a temporary SQLite file; 2,000 leads per phase unless ``--leads N``;
* with ``DATABASE_URL`` set (an admin connection, e.g.
  ``postgres://postgres@127.0.0.1:5432/postgres``): the script creates the database
  ``heroshhi_bench_retention`` on that server, runs there and drops it at the end;
  20,000 leads per phase (200,000 messages) unless ``--leads N``.

Seeding uses ``bulk_create`` (which encrypts every row); only the purge is timed.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "heroshhi_bench_retention"
SEED_BATCH = 1_000
MESSAGES_PER_LEAD = 10
FIRST_PHONE = 9_100_000_000  # +91 91000 00000 onwards: a made-up block


@contextmanager
def _postgres_bench_database(admin_url: str, name: str = BENCH_DATABASE) -> Iterator[str]:
    """A fresh database ``name`` on the admin connection's server, dropped after."""
    import psycopg
    from psycopg import sql

    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(drop)


def _setup_django(workdir: str, database_url: str | None) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    os.environ["HEROSHHI_VAR_DIR"] = workdir
    for name in ("DATABASE_URL", "REDIS_URL", "HEROSHHI_MASTER_KEYS", "HEROSHHI_MASTER_KEYS_FILE"):
        os.environ.pop(name, None)
    os.environ["DJANGO_DEBUG"] = "false"
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=None, help="leads per phase")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    leads = args.leads or (20_000 if admin_url else 2_000)
    with tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir:
        if admin_url:
            with _postgres_bench_database(admin_url) as bench_url:
                _setup_django(workdir, bench_url)
                _run(leads=leads)
        else:
            _setup_django(workdir, None)
            _run(leads=leads)


def _run(*, leads: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from heroshhi.accounts.services import user_create
    from heroshhi.core.actors import Actor
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Lead
    from heroshhi.leads.services.stages import stages_ensure_defaults
    from heroshhi.messaging.models import Message
    from heroshhi.privacy.models import RetentionPolicy
    from heroshhi.privacy.retention.rules import RULE_MESSAGES, RULE_TRASH
    from heroshhi.privacy.retention.runs import retention_run
    from heroshhi.workspaces.services import workspace_create

    load = os.getloadavg()
    print(
        f"{connection.vendor}, {leads:,} leads x {MESSAGES_PER_LEAD} messages per phase; "
        f"Python {sys.version.split()[0]}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        f" on {os.cpu_count()} cores\n"
    )
    owner = user_create(email="owner@bench.heroshhi.test", password="bench password 2026 x")  # noqa: S106
    workspace = workspace_create(
        actor=Actor.system(), name="Bench Purge", slug="bench", owner=owner
    )
    stage = stages_ensure_defaults(workspace=workspace)[0]
    now = timezone.now()

    # Phase 1: the 30-day trash, with everything attached.
    started = time.perf_counter()
    _seed(
        workspace=workspace,
        stage_id=stage.pk,
        count=leads,
        first=0,
        trashed_at=now - timedelta(days=40),
    )
    seeded = time.perf_counter() - started
    print(f"{'seed (trashed leads + conversations + messages)':<52} {seeded:>8.1f} s")
    _analyze()
    started = time.perf_counter()
    run = retention_run(now=now, workspace=workspace)
    elapsed = time.perf_counter() - started
    counts = run.results[RULE_TRASH]["counts"]
    purged_leads, purged_messages = counts.get("leads.Lead", 0), counts.get("messaging.Message", 0)
    assert purged_leads == leads, counts
    assert purged_messages == leads * MESSAGES_PER_LEAD, counts
    print(f"{'trash purge: rows deleted':<52} {sum(counts.values()):>9,}  ({elapsed:.1f} s)")
    print(f"{'trash purge: leads/s':<52} {purged_leads / elapsed:>9,.0f}")
    print(f"{'trash purge: messages/s':<52} {purged_messages / elapsed:>9,.0f}\n")

    # Phase 2: the owner's message retention on live leads.
    started = time.perf_counter()
    _seed(workspace=workspace, stage_id=stage.pk, count=leads, first=leads, trashed_at=None)
    print(
        f"{'seed (live leads, messages 60 days old)':<52} {time.perf_counter() - started:>8.1f} s"
    )
    with workspace_scope(workspace):
        RetentionPolicy.objects.create(workspace=workspace, delete_messages_after_days=30)
    _analyze()
    started = time.perf_counter()
    run = retention_run(now=now, workspace=workspace)
    elapsed = time.perf_counter() - started
    deleted = run.results[RULE_MESSAGES]["counts"].get("messaging.Message", 0)
    assert deleted == leads * MESSAGES_PER_LEAD, run.results
    with workspace_scope(workspace):
        assert Message.objects.count() == 0
        assert Lead.objects.count() == leads
    print(f"{'message retention: messages/s':<52} {deleted / elapsed:>9,.0f}  ({elapsed:.1f} s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n{'peak RSS':<52} {peak:>9,.0f} MB")


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def _seed(*, workspace: Any, stage_id: Any, count: int, first: int, trashed_at: Any) -> None:
    from django.db import transaction
    from django.utils import timezone

    from heroshhi.core.crypto import PHONE, WA_USER, blind_index
    from heroshhi.core.crypto.keys import data_key, index_key
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Lead, Note, TimelineEvent
    from heroshhi.messaging.models import Channel, Conversation, Message
    from heroshhi.privacy.models import ConsentRecord
    from heroshhi.whatsapp.models import KIND, WhatsAppChannel

    data_key(workspace.pk)
    index_key(workspace.pk)
    old = timezone.now() - timedelta(days=60)
    with workspace_scope(workspace):
        channel = Channel.objects.filter(whatsapp__phone_number_id="100000000000777").first()
        if channel is None:
            channel = Channel.objects.create(
                workspace=workspace, kind=KIND, display_phone_number="+91 90000 00777"
            )
            WhatsAppChannel.objects.create(
                workspace=workspace,
                channel=channel,
                phone_number_id="100000000000777",
                waba_id="200000000000777",
                access_token="bench-token",  # noqa: S106 -- throw-away database
                app_secret="bench-secret",  # noqa: S106
                verify_token="bench-verify",  # noqa: S106
            )
    for batch_start in range(first, first + count, SEED_BATCH):
        leads, conversations, messages, notes, events, consents = [], [], [], [], [], []
        for n in range(batch_start, min(first + count, batch_start + SEED_BATCH)):
            phone = f"+91{FIRST_PHONE + n}"
            lead = Lead(
                workspace=workspace,
                name=f"Bench Lead {n}",
                phone=phone,
                phone_bidx=blind_index(workspace.pk, PHONE, phone),
                source="whatsapp",
                stage_id=stage_id,
                created_at=old,
                updated_at=old,
                last_activity_at=old,
                deleted_at=trashed_at,
            )
            leads.append(lead)
            wa_user = f"91{FIRST_PHONE + n}"
            conversation = Conversation(
                workspace=workspace,
                lead=lead,
                channel=channel,
                wa_user_id=wa_user,
                wa_user_bidx=blind_index(workspace.pk, WA_USER, wa_user),
                last_inbound_at=old,
                last_message_at=old,
            )
            conversations.append(conversation)
            for m in range(MESSAGES_PER_LEAD):
                inbound = m % 2 == 0
                messages.append(
                    Message(
                        workspace=workspace,
                        conversation=conversation,
                        lead=lead,
                        direction=Message.Direction.INBOUND
                        if inbound
                        else Message.Direction.OUTBOUND,
                        kind=Message.Kind.TEXT,
                        body=f"Bench message {m} about the 2BHK flat, lead {n}",
                        status=Message.Status.RECEIVED if inbound else Message.Status.DELIVERED,
                        provider_message_id=f"wamid.bench.{n}.{m}",
                        created_at=old + timedelta(minutes=m),
                    )
                )
                events.append(
                    TimelineEvent(
                        workspace=workspace,
                        lead=lead,
                        kind=TimelineEvent.Kind.MESSAGE_IN
                        if inbound
                        else TimelineEvent.Kind.MESSAGE_OUT,
                        actor_type="system",
                        data={},
                        created_at=old + timedelta(minutes=m),
                    )
                )
            notes.append(Note(workspace=workspace, lead=lead, body=f"Bench note {n}"))
            consents.append(
                ConsentRecord(
                    workspace=workspace,
                    lead=lead,
                    purpose="marketing",
                    status="granted",
                    source="form",
                    actor_type="system",
                )
            )
        with transaction.atomic(), workspace_scope(workspace):
            Lead.objects.bulk_create(leads, batch_size=1_000)
            Conversation.objects.bulk_create(conversations, batch_size=1_000)
            Message.objects.bulk_create(messages, batch_size=2_000)
            TimelineEvent.objects.bulk_create(events, batch_size=2_000)
            Note.objects.bulk_create(notes, batch_size=1_000)
            ConsentRecord.objects.bulk_create(consents, batch_size=1_000)


if __name__ == "__main__":
    main()
