"""CSV import of 100,000 rows: ``.venv/bin/python bench/leads_import.py``.

Builds a made-up CSV (name, mobile, e-mail on every third row, tags on every fourth; one
row in a hundred has an invalid number and one in two hundred repeats an earlier number),
uploads it through ``lead_import_create``, maps the columns with the suggested mapping and
starts it with ``lead_import_start``. The run is the real task (Celery runs it eagerly in
this process, as the tests do; in production a worker does the same), in batches of 500
rows through the batch service. A second thread reads the import's progress counters
from the database every second, as the progress page does, and prints them.

At the end it checks that every row is accounted for (created + merged + failed = rows)
and that the error report names exactly the invalid rows, then prints the wall time.

Databases as in ``bench/leads.py`` (``heroshhi_bench_import`` with ``DATABASE_URL``)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/leads_import.py
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import tempfile
import threading
import time

import leads as bench  # bench/leads.py: database, Django setup, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the CSV file")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    with tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir:
        if admin_url:
            with bench._postgres_bench_database(admin_url, "heroshhi_bench_import") as url:
                bench._setup_django(workdir, url)
                _run(rows=args.rows)
        else:
            bench._setup_django(workdir, None)
            _run(rows=args.rows)


def _csv(rows: int) -> tuple[bytes, int, int]:
    """The file, how many rows are invalid and how many repeat an earlier number."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Name", "Mobile", "Email", "Tags"])
    invalid = repeated = 0
    for n in range(rows):
        name = f"{bench.FIRST_NAMES[n % 50]} {bench.LAST_NAMES[n % 38]}"
        phone = str(bench.FIRST_PHONE + n)
        if n % 100 == 99:
            phone, invalid = "12345", invalid + 1
        elif n % 200 == 150:
            phone, repeated = str(bench.FIRST_PHONE + n - 100), repeated + 1
        email = f"l{n}@example.com" if n % 3 == 0 else ""
        writer.writerow([name, phone, email, "hot" if n % 4 == 0 else ""])
    return buffer.getvalue().encode(), invalid, repeated


def _run(*, rows: int) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection, connections

    from heroshhi.accounts.services import user_create
    from heroshhi.core.actors import Actor
    from heroshhi.core.crypto.keys import data_key, index_key
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads import importing
    from heroshhi.leads.models import Lead, LeadImport
    from heroshhi.leads.services import imports
    from heroshhi.workspaces.models import Membership
    from heroshhi.workspaces.permissions import Role
    from heroshhi.workspaces.services import workspace_create

    print(f"{connection.vendor}, a CSV of {rows:,} rows\n")
    password = "bench password 2026 not secret"  # noqa: S105 -- throw-away database
    owner = user_create(email="owner@bench.heroshhi.test", password=password)
    workspace = workspace_create(
        actor=Actor.system(), name="Bench Traders", slug="bench", owner=owner
    )
    data_key(workspace.pk)  # committed keys are cached (see bench/leads.py)
    index_key(workspace.pk)
    actor = Actor.user(owner.pk, role=Role.OWNER)
    with workspace_scope(workspace):
        member = Membership.objects.get(user=owner)
    content, invalid, repeated = _csv(rows)
    upload = SimpleUploadedFile("leads.csv", content, content_type="text/csv")
    lead_import = imports.lead_import_create(
        workspace=workspace, actor=actor, member=member, upload=upload
    )
    mapping = importing.guess_mapping(importing.headers_of(lead_import))
    print(f"{'file':<52} {len(content) / 1e6:>9.1f} MB, mapping {sorted(mapping.values())}")

    done = threading.Event()

    def watch() -> None:
        started = time.perf_counter()
        with workspace_scope(workspace):
            while not done.wait(1.0):
                row = LeadImport.objects.filter(pk=lead_import.pk).values(
                    "created", "updated", "failed", "status"
                )[0]
                seen = row["created"] + row["updated"] + row["failed"]
                print(f"  progress after {time.perf_counter() - started:5.1f} s: {seen:>7,} rows")
        connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.perf_counter()
    try:
        imports.lead_import_start(
            workspace=workspace, actor=actor, lead_import=lead_import, mapping=mapping
        )
    finally:
        done.set()
        watcher.join()
    elapsed = time.perf_counter() - started
    with workspace_scope(workspace):
        result = LeadImport.objects.get(pk=lead_import.pk)
        stored = Lead.objects.count()
    report = list(csv.reader(io.StringIO(result.error_report or "")))[1:]
    assert result.status == LeadImport.Status.DONE, result.status
    assert result.created + result.updated + result.failed == rows
    assert (result.failed, result.updated) == (invalid, repeated), (result.failed, result.updated)
    assert len({line[0] for line in report}) == invalid  # one report line per bad row
    assert stored == result.created
    label = f"import of {rows:,} rows (created / merged / failed)"
    print(f"{label:<52} {elapsed:>9.1f} s  ({rows / elapsed:,.0f} rows/s)")
    print(f"{'':<52} {result.created:,} / {result.updated:,} / {result.failed:,}")
    print(f"{'peak RSS':<52} {bench._peak_rss_mb():>9,.0f} MB")


if __name__ == "__main__":
    main()
