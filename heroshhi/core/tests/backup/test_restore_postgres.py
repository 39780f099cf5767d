"""A PostgreSQL deployment backed up and restored into a new database by another process, as
on a fresh machine: the same leads decrypt, the audit chains verify, the opt-out ledger and
the export files are the same."""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from heroshhi.core.tests.backup.deployment import (
    EMAIL,
    NAME,
    PHONE,
    key_environment,
    manage,
    run_in,
    seed,
    verified_state,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),  # pg_dump, another process, sees only commits
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="pg_dump and pg_restore are PostgreSQL's; run with DATABASE_URL=postgres://…",
    ),
]


@pytest.fixture
def new_database_url() -> Iterator[str]:
    """A new, empty database beside the configured one, dropped at the end."""
    configured = urlsplit(os.environ["DATABASE_URL"])
    name = f"{configured.path.lstrip('/')}_restore_{secrets.token_hex(4)}"
    quoted = connection.ops.quote_name(name)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {quoted}")
    try:
        yield urlunsplit(configured._replace(path=f"/{name}"))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")


def test_a_restored_database_reads_and_verifies_like_the_original(
    world, var_dir, tmp_path, new_database_url
):
    seed(world)
    expected = verified_state()
    assert expected["files"]
    assert expected["opt_out_ledger"]
    assert {"name": NAME, "phone": PHONE, "email": EMAIL} in [
        {key: lead[key] for key in ("name", "phone", "email")} for lead in expected["leads"]
    ]
    output = io.StringIO()
    call_command("backup", str(tmp_path), stdout=output)
    summary = json.loads(output.getvalue())
    target = key_environment(tmp_path / "fresh-machine", DATABASE_URL=new_database_url)

    restored = manage(target, "restore", summary["archive"])

    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["database"] == {
        "vendor": "postgresql",
        "name": urlsplit(new_database_url).path[1:],
    }
    assert report["workspace_keys"] == summary["workspace_keys"] >= 4  # data + index, A and B
    assert run_in(target, "verified_state") == expected
    archive = Path(summary["archive"]).read_bytes()
    for personal in (PHONE, PHONE[3:], NAME, EMAIL, "alice@a.example"):
        assert personal.encode() not in archive
