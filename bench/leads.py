"""Lead list, search and create at volume: ``.venv/bin/python bench/leads.py``.

Seeds N made-up leads into one workspace of a throw-away database, then prints p50/p95 for
what the lead list does (the architecture budget: list/search p95 ≤ 100 ms at 1,000,000
leads, lead create ≥ 1,000/s), plus peak RSS:

* the first list page (50 rows through ``leads_list``, name and phone decrypted), as the
  owner and as a sales user, and a page deep in the list through a keyset cursor,
* a phone search (``q`` is a stored number typed differently, e.g. ``090000-12345``),
* a name-word search (one common first name) and a two-word name search,
* lead-create throughput through the ``lead_create`` service (1,000 leads, one transaction
  each: validation, encryption, blind indexes, dedupe lookup, timeline and audit), and
  through the batch service ``leads_create_many`` (batches of 500, one transaction each,
  the same rules),
* with ``--export``: the CSV export of every seeded lead, streamed through the API view
  (``GET /api/v1/leads/export.csv``, Django's test client, in a fresh child process
  ``bench/leads_export.py``) and read to the end: wall time and the child's peak RSS.

The HTTP figures for creating leads are in ``bench/leads_api.py`` (the web server) and the CSV
import in ``bench/leads_import.py``.

Databases, never the development one:

* default: a temporary SQLite file (``HEROSHHI_VAR_DIR`` points at a temporary folder, so
  keys and files are temporary too); 20,000 leads unless ``--leads N``;
* with ``DATABASE_URL`` set (an admin connection, e.g.
  ``postgres://postgres@127.0.0.1:5432/postgres``): the script creates the database
  ``heroshhi_bench`` on that server, runs there and drops it at the end; 200,000 leads
  unless ``--leads N``.

Both defaults run in well under three minutes on a 2-core machine. The budget case
(1,000,000 leads) is::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/leads.py --leads 1000000 --export

Seeding goes through ``core.bulk.rows_insert`` (one COPY per table, every row encrypted as
``bulk_create`` would) with blind indexes and name
tokens computed by the public crypto helpers, in batches of a few thousand rows, so memory
stays flat whatever N is.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "heroshhi_bench"
SEED_BATCH = 5_000
FIRST_PHONE = 9_000_000_000  # +91 90000 00000 onwards: a made-up block
FIRST_NAMES = (
    "Aarav", "Aditi", "Akash", "Ananya", "Anil", "Anjali", "Arjun", "Bhavna", "Chetan",
    "Deepa", "Divya", "Farhan", "Gaurav", "Geeta", "Harpreet", "Imran", "Ishita", "Karan",
    "Kavya", "Lakshmi", "Manish", "Meera", "Naveen", "Neha", "Nikhil", "Pooja", "Pradeep",
    "Priya", "Rahul", "Rajesh", "Ravi", "Rekha", "Rohan", "Sakshi", "Sandeep", "Sanjay",
    "Shreya", "Sneha", "Sunil", "Sunita", "Suresh", "Tanvi", "Varun", "Vikram", "Vidya",
    "Yash", "Zoya", "राहुल", "प्रिया", "अमित",
)  # fmt: skip
LAST_NAMES = (
    "Sharma", "Verma", "Gupta", "Agarwal", "Patel", "Shah", "Mehta", "Desai", "Joshi",
    "Kulkarni", "Patil", "Reddy", "Naidu", "Rao", "Iyer", "Nair", "Menon", "Pillai",
    "Banerjee", "Chatterjee", "Das", "Ghosh", "Singh", "Kaur", "Khan", "Qureshi", "D'Souza",
    "Fernandes", "Thomas", "Mishra", "Tiwari", "Yadav", "Chauhan", "Saxena", "Kapoor",
    "शर्मा", "वर्मा", "यादव",
)  # fmt: skip
SOURCES = (
    "whatsapp", "facebook_ads", "google_ads", "manual", "import", "google_sheets", "webhook",
    "api",
)  # fmt: skip
TAGS = ("hot", "follow-up", "diwali-offer", "bulk-order")


# Database ------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def _postgres_bench_database(admin_url: str, name: str = BENCH_DATABASE) -> Iterator[str]:
    """A fresh database ``name`` on the admin connection's server, dropped after."""
    import psycopg
    from psycopg import sql

    statement_drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(statement_drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_database(admin_url, name)
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(statement_drop)


def _setup_django(workdir: str, database_url: str | None) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    os.environ["HEROSHHI_VAR_DIR"] = workdir  # SQLite file, keys, broker folders: temporary
    for name in ("DATABASE_URL", "REDIS_URL", "HEROSHHI_MASTER_KEYS", "HEROSHHI_MASTER_KEYS_FILE"):
        os.environ.pop(name, None)
    os.environ["DJANGO_DEBUG"] = "false"  # no query log: it is not what is measured
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


# Figures -------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _latencies(operation: Callable[[int], object], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds; ``operation`` gets the run number to vary its input."""
    for warm_up in range(5):
        operation(warm_up)
    timings = []
    for run in range(runs):
        started = time.perf_counter()
        operation(run)
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return statistics.median(timings), cuts[94]


def _report(label: str, p50: float, p95: float) -> None:
    print(f"{label:<52} p50 {p50:8.2f} ms   p95 {p95:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=None, help="leads to seed")
    parser.add_argument("--creates", type=int, default=1_000, help="leads made by lead_create")
    parser.add_argument("--runs", type=int, default=200, help="timed runs per query")
    parser.add_argument(
        "--batched", type=int, default=10_000, help="leads made by leads_create_many"
    )
    parser.add_argument("--export", action="store_true", help="also time the CSV export")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    leads = args.leads or (200_000 if admin_url else 20_000)
    options = {"creates": args.creates, "batched": args.batched, "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir:
        if admin_url:
            with _postgres_bench_database(admin_url) as bench_url:
                _setup_django(workdir, bench_url)
                _run(leads=leads, **options, export=(workdir, bench_url) if args.export else None)
        else:
            _setup_django(workdir, None)
            _run(leads=leads, **options, export=(workdir, "") if args.export else None)


# The run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    owner: Any
    workspace: Any
    sales: list[Any]  # two sales memberships
    stages: list[Any]


OWNER_EMAIL = "owner@bench.heroshhi.test"


def bench_team(*, slug: str = "bench") -> Team:
    """The benchmarks' workspace: an owner, two sales members and the default stages."""
    from heroshhi.accounts.services import user_create
    from heroshhi.core.actors import Actor
    from heroshhi.leads.services.stages import stages_ensure_defaults
    from heroshhi.workspaces.permissions import Role
    from heroshhi.workspaces.services import membership_create, workspace_create

    password = "bench password 2026 not secret"  # noqa: S105 -- throw-away database
    owner = user_create(email=OWNER_EMAIL, password=password)
    workspace = workspace_create(actor=Actor.system(), name="Bench Traders", slug=slug, owner=owner)
    sales = [
        membership_create(
            workspace=workspace,
            user=user_create(email=f"sales{n}@bench.heroshhi.test", password=password),
            role=Role.SALES,
        )
        for n in (1, 2)
    ]
    return Team(owner, workspace, sales, stages_ensure_defaults(workspace=workspace))


def _run(
    *, leads: int, creates: int, batched: int, runs: int, export: tuple[str, str] | None
) -> None:
    from django.db import connection

    from heroshhi.core.actors import Actor
    from heroshhi.workspaces.permissions import Role

    vendor = connection.vendor
    print(f"{vendor}, {leads:,} leads in one workspace; Python {sys.version.split()[0]}\n")
    team = bench_team()
    owner, workspace, sales, stages = team.owner, team.workspace, team.sales, team.stages

    started = time.perf_counter()
    _seed(workspace=workspace, stage_ids=[s.pk for s in stages], members=sales, count=leads)
    seeded = time.perf_counter() - started
    print(f"{'seed (COPY, encrypted + blind indexes)':<52} {leads / seeded:>9,.0f} leads/s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if vendor == "postgresql" else "ANALYZE")
    print(f"{'ANALYZE after seeding':<52} {time.perf_counter() - started:>9.1f} s\n")

    owner_actor = Actor.user(owner.pk, role=Role.OWNER)
    if export is not None:  # first, while the workspace holds exactly the seeded leads
        _export(workspace=workspace, workdir=export[0], database_url=export[1], count=leads)
    _queries(
        workspace=workspace,
        owner_actor=owner_actor,
        sales_actor=Actor.user(sales[0].user_id, role=Role.SALES),
        count=leads,
        runs=runs,
    )
    _creates(workspace=workspace, actor=owner_actor, first=leads, count=creates)
    _creates_batched(workspace=workspace, actor=owner_actor, first=leads + creates, count=batched)
    print(f"\n{'peak RSS':<52} {_peak_rss_mb():>9,.0f} MB")


def _seed(
    *, workspace: Any, stage_ids: list[Any], members: list[Any], count: int, processes: int = 1
) -> None:
    """``count`` leads, oldest first, in batches; ``processes`` > 1 forks that many children
    that encrypt and COPY batches side by side (encryption in Python is what a batch costs)."""
    import multiprocessing
    from functools import partial

    from django.db import connections
    from django.utils import timezone

    from heroshhi.core.crypto.keys import data_key, index_key
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Tag

    # Create the workspace keys in their own committed transaction: a key made inside a
    # batch's transaction is not cached until that commits, so each row would look it up.
    data_key(workspace.pk)
    index_key(workspace.pk)
    with workspace_scope(workspace):
        tags = Tag.objects.bulk_create([Tag(workspace=workspace, name=name) for name in TAGS])
    seed_batch = partial(
        _seed_batch,
        workspace=workspace,
        stage_ids=stage_ids,
        owner_ids=[member.pk for member in members] + [None],
        tag_ids=[tag.pk for tag in tags],
        # Oldest first, one second apart: created_at is what the list is ordered by.
        start=timezone.now() - timedelta(seconds=count + 60),
        count=count,
    )
    batches = range(0, count, SEED_BATCH)
    if processes <= 1:
        for batch_start in batches:
            seed_batch(batch_start)
        return
    connections.close_all()  # each child opens its own; a forked connection is shared
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for _ in pool.imap_unordered(seed_batch, batches):
            pass


def _seed_batch(
    batch_start: int,
    *,
    workspace: Any,
    stage_ids: list[Any],
    owner_ids: list[Any],
    tag_ids: list[Any],
    start: Any,
    count: int,
) -> None:
    """Leads ``batch_start`` to ``batch_start + SEED_BATCH``, the same whoever seeds them."""
    from django.db import transaction

    from heroshhi.core.bulk import rows_insert
    from heroshhi.core.crypto import EMAIL, PHONE, blind_index, name_tokens
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Lead, LeadNameToken

    rng = random.Random(2026 + batch_start)
    through = Lead.tags.through
    rows: list[Lead] = []
    tokens: list[LeadNameToken] = []
    links: list[Any] = []
    for n in range(batch_start, min(count, batch_start + SEED_BATCH)):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        phone = f"+91{FIRST_PHONE + n}"
        email = f"lead{n}@example.com" if n % 3 == 0 else None
        created = start + timedelta(seconds=n)
        lead = Lead(
            workspace=workspace,
            name=name,
            phone=phone,
            email=email,
            phone_bidx=blind_index(workspace.pk, PHONE, phone),
            email_bidx=None if email is None else blind_index(workspace.pk, EMAIL, email),
            source=rng.choice(SOURCES),
            source_details={"utm_source": "bench"},
            stage_id=rng.choice(stage_ids),
            owner_id=rng.choice(owner_ids),
            deal_value=Decimal(rng.randrange(500, 500_000)),
            created_at=created,
            updated_at=created,
            last_activity_at=created,
        )
        rows.append(lead)
        tokens.extend(
            LeadNameToken(workspace=workspace, lead=lead, token=token, lead_created_at=created)
            for token in name_tokens(workspace.pk, name)
        )
        if n % 4 == 0:
            links.append(through(lead_id=lead.pk, tag_id=rng.choice(tag_ids)))
    with transaction.atomic(), workspace_scope(workspace):
        rows_insert(Lead, rows, workspace_id=workspace.pk)
        rows_insert(LeadNameToken, tokens, workspace_id=workspace.pk)
        through.objects.bulk_create(links, batch_size=2_000)


def _queries(*, workspace: Any, owner_actor: Any, sales_actor: Any, count: int, runs: int) -> None:
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.models import Lead
    from heroshhi.leads.selectors import (
        encode_cursor,
        leads_list,
        parse_lead_filters,
        viewer_for,
    )

    rng = random.Random(7)
    with workspace_scope(workspace):
        owner = viewer_for(actor=owner_actor)
        sales = viewer_for(actor=sales_actor)
        # Cursors at random depths: created_at and id of existing rows.
        offsets = sorted(rng.randrange(count) for _ in range(20))
        cursors = [
            encode_cursor(Lead(pk=pk, created_at=created))
            for pk, created in (
                Lead.objects.order_by("-created_at", "-id").values_list("pk", "created_at")[offset]
                for offset in offsets
            )
        ]
    no_filters = parse_lead_filters({})

    def page(viewer: Any, filters: Any, after: str | None = None) -> int:
        result = leads_list(workspace=workspace, viewer=viewer, filters=filters, after=after)
        for lead in result.items:  # what a page shows: decrypt the name and phone
            _ = (lead.name, lead.phone, [tag.name for tag in lead.tags.all()])
        return len(result.items)

    def typed_differently(n: int) -> str:
        national = str(FIRST_PHONE + n)
        return rng.choice((f"0{national[:5]}-{national[5:]}", f"+91 {national}", national))

    checks = (
        ("first page, owner (50 rows)", lambda run: page(owner, no_filters)),
        ("first page, sales user (own leads only)", lambda run: page(sales, no_filters)),
        (
            "page deep in the list (keyset cursor)",
            lambda run: page(owner, no_filters, cursors[run % len(cursors)]),
        ),
        (
            "phone search, number typed differently",
            lambda run: page(
                owner, parse_lead_filters({"q": typed_differently(rng.randrange(count))})
            ),
        ),
        (
            "name-word search (a common first name)",
            lambda run: page(owner, parse_lead_filters({"q": rng.choice(FIRST_NAMES)})),
        ),
        (
            "two-word name search",
            lambda run: page(
                owner,
                parse_lead_filters({"q": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"}),
            ),
        ),
    )
    # One phone search must find exactly its lead, or the figure means nothing.
    found = page(owner, parse_lead_filters({"q": typed_differently(count // 2)}))
    assert found == 1, f"phone search found {found} leads"
    for label, operation in checks:
        _report(label, *_latencies(operation, runs))


def _creates(*, workspace: Any, actor: Any, first: int, count: int) -> None:
    from heroshhi.leads.services.leads import lead_create

    started = time.perf_counter()
    for n in range(first, first + count):
        result = lead_create(
            workspace=workspace,
            actor=actor,
            name=f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[n % len(LAST_NAMES)]}",
            phone=f"0{FIRST_PHONE + n}",
            email=f"lead{n}@example.com",
            source="api",
            source_details={"utm_source": "bench"},
            tags=["hot"] if n % 2 else [],
            deal_value=Decimal(25_000),
        )
        assert result.created
    elapsed = time.perf_counter() - started
    print(f"\n{'lead_create service, one transaction each':<52} {count / elapsed:>9,.0f} leads/s")


def _creates_batched(*, workspace: Any, actor: Any, first: int, count: int) -> None:
    from heroshhi.leads.services.batch import BATCH_MAX, ItemStatus, LeadItem, leads_create_many

    items = [
        LeadItem(
            name=f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[n % len(LAST_NAMES)]}",
            phone=f"0{FIRST_PHONE + n}",
            email=f"lead{n}@example.com",
            source="api",
            source_details={"utm_source": "bench"},
            tags=["hot"] if n % 2 else [],
            deal_value=Decimal(25_000),
        )
        for n in range(first, first + count)
    ]
    started = time.perf_counter()
    for start in range(0, count, BATCH_MAX):
        results = leads_create_many(
            workspace=workspace, actor=actor, items=items[start : start + BATCH_MAX]
        )
        assert all(result.status == ItemStatus.CREATED for result in results)
    elapsed = time.perf_counter() - started
    label = f"leads_create_many service, batches of {BATCH_MAX}"
    print(f"{label:<52} {count / elapsed:>9,.0f} leads/s")


def _export(*, workspace: Any, workdir: str, database_url: str, count: int) -> None:
    """Stream the export in a fresh process, so its peak RSS is the export's alone."""
    import subprocess

    from heroshhi.accounts.services import api_key_create
    from heroshhi.core.actors import Actor
    from heroshhi.workspaces.permissions import Role

    key = api_key_create(
        workspace=workspace,
        actor=Actor.user("bench", role=Role.OWNER),
        created_by=None,
        name="bench export",
        role=Role.OWNER,
    ).plaintext
    child = subprocess.run(  # noqa: S603 -- our own script, fixed arguments
        [sys.executable, str(ROOT / "bench" / "leads_export.py"), "--expect", str(count)],
        env={
            **os.environ,
            "BENCH_VAR_DIR": workdir,
            "BENCH_DATABASE_URL": database_url,
            "BENCH_API_KEY": key,
        },
        capture_output=True,
        text=True,
    )
    print(child.stdout, end="")
    if child.returncode:
        print(child.stderr[-3000:], file=sys.stderr)
        raise SystemExit("the export child failed")


if __name__ == "__main__":
    main()
