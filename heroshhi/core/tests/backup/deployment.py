"""Helpers for the backup tests: a seeded world, what a restore must bring back (read the
same way on both sides), and the environment of another process with the same keys."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.core.management import call_command

from conftest import PASSWORD
from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor
from heroshhi.core.backup.files import kept_files
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.notes import note_add
from heroshhi.messaging import optout
from heroshhi.messaging.models import OptOutRecord
from heroshhi.workspaces import export
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import workspace_create

ROOT = Path(__file__).resolve().parents[4]
PHONE = "+919876543210"
NAME = "Priya Raghunathan"
EMAIL = "priya.raghunathan@example.in"


def seed(world: Any) -> None:
    """Encrypted leads in two workspaces, notes (audited), an opt-out and a way back in for
    another contact (the ledger), and a whole-workspace export file under VAR_DIR."""
    alice = Actor.user(world.alice.pk, role=Role.OWNER)
    charlie = Actor.user(world.charlie.pk, role=Role.OWNER)
    priya = lead_create(
        workspace=world.a, actor=alice, name=NAME, phone=PHONE, email=EMAIL, source="manual"
    ).lead
    note_add(workspace=world.a, actor=alice, lead=priya, body="Prefers mornings")
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=priya)
    ravi = lead_create(
        workspace=world.a,
        actor=alice,
        name="Ravi Kumar",
        phone="+919811122233",
        email=None,
        source="manual",
    ).lead
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=ravi)
    optout.lead_opt_in(workspace=world.a, actor=alice, lead=ravi)
    lead_create(
        workspace=world.b,
        actor=charlie,
        name="Beta Secret",
        phone="+919800000001",
        email="secret@b.example",
        source="manual",
    )
    # Tasks run eagerly in tests: the export is built when the start commits.
    export.workspace_export_start(workspace=world.a, actor=alice, requested_by=world.alice)


OLDER_THAN_THE_CODE = "crypto_testapp"


def seed_new_deployment() -> dict[str, Any]:
    """A deployment of its own, migrated except for one test app (so its archives are older
    than the code), with the test world (as the ``world`` fixture makes it), seeded;
    returns its ``verified_state()``."""
    call_command("migrate", verbosity=0)
    call_command("migrate", OLDER_THAN_THE_CODE, "zero", verbosity=0)
    alice = user_create(email="alice@a.example", password=PASSWORD, full_name="Alice")
    charlie = user_create(email="charlie@b.example", password=PASSWORD, full_name="Charlie")
    world = SimpleNamespace(
        alice=alice,
        charlie=charlie,
        a=workspace_create(actor=Actor.system(), name="Alpha Traders", slug="alpha", owner=alice),
        b=workspace_create(actor=Actor.system(), name="Beta Exports", slug="beta", owner=charlie),
    )
    seed(world)
    return verified_state()


def state() -> dict[str, Any]:
    """Everything the restore must bring back, decrypted and in a stable order."""
    leads, ledger = [], []
    for workspace in Workspace.objects.order_by("slug"):
        with workspace_scope(workspace):
            for lead in Lead.objects.order_by("pk"):
                leads.append(
                    {
                        "workspace": workspace.slug,
                        "id": str(lead.pk),
                        "name": lead.name,
                        "phone": lead.phone,
                        "email": lead.email,
                        "opted_out": optout.lead_is_opted_out(workspace=workspace, lead=lead),
                    }
                )
            ledger += [
                {key: str(value) for key, value in row.items()}
                for row in OptOutRecord.objects.order_by("pk").values(
                    "pk", "phone_bidx", "status", "method", "trigger", "occurred_at", "seq"
                )
            ]
    files = {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in kept_files()}
    return {"leads": leads, "opt_out_ledger": ledger, "files": files}


def verified_state() -> dict[str, Any]:
    """``state()`` and what ``audit_verify`` says of every chain (it raises when one fails)."""
    output = io.StringIO()
    call_command("audit_verify", stdout=output, no_color=True)
    return {**state(), "audit_verify": output.getvalue().strip().splitlines()}


def key_environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """Another process's environment: this one's keys, its own VAR_DIR."""
    master_keys = settings.MASTER_KEYS or Path(settings.MASTER_KEY_FILE).read_text().strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEROSHHI_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        HEROSHHI_VAR_DIR=str(var_dir),
        HEROSHHI_MASTER_KEYS=master_keys,
        HEROSHHI_AUDIT_KEY=settings.AUDIT_HMAC_KEY,
        HEROSHHI_BACKUP_KEY=settings.BACKUP_KEY,
    )
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_in(env: dict[str, str], function: str) -> Any:
    """Call a function of this module in another deployment (its database, its VAR_DIR)
    and return what it returned (JSON)."""
    script = (
        "import json, django; django.setup(); "
        f"from heroshhi.core.tests.backup.deployment import {function}; "
        f"print(json.dumps({function}()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])
