"""A SQLite deployment, one migration behind the code, backed up and brought up (and migrated)
elsewhere, every step a process of its own as on two machines (runs whatever database the
suite itself uses)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heroshhi.core.tests.backup.deployment import (
    EMAIL,
    NAME,
    OLDER_THAN_THE_CODE,
    PHONE,
    key_environment,
    manage,
    run_in,
)

pytestmark = pytest.mark.integration


def test_a_sqlite_deployment_comes_back_whole_on_another_machine(tmp_path):
    source = key_environment(tmp_path / "source")
    target = key_environment(tmp_path / "target")
    expected = run_in(source, "seed_new_deployment")
    (tmp_path / "archives").mkdir()

    made = manage(source, "backup", str(tmp_path / "archives"))
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    restored = manage(target, "restore", summary["archive"])
    assert restored.returncode == 0, restored.stderr
    # Once more over what the first restore brought: replacing is what --force is for.
    replaced = manage(target, "restore", summary["archive"], "--force")

    assert replaced.returncode == 0, replaced.stderr
    report = json.loads(restored.stdout)
    assert report["database"]["vendor"] == "sqlite"
    assert report["migrations_applied"] == [f"{OLDER_THAN_THE_CODE}.0001_initial"]
    assert json.loads(replaced.stdout)["replaced"] is True
    assert summary["files"] == len(expected["files"]) == 1
    assert run_in(target, "verified_state") == expected
    archive = Path(summary["archive"]).read_bytes()
    for personal in (PHONE, PHONE[3:], NAME, EMAIL, "alice@a.example"):
        assert personal.encode() not in archive
