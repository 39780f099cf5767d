"""Field-encryption throughput: ``.venv/bin/python bench/crypto.py``.

Runs against a throw-away SQLite database and key file in a temporary directory, so it
never touches development data. Prints operations per second (best of three rounds) for a
100-byte value:

* the AES-256-GCM primitive alone (the architecture budget: ~1.5 µs encrypt+decrypt),
* ``encrypt_value``/``decrypt_value`` with the workspace key cached (header, AAD, base64),
* the model-field path (``seal``/``unseal`` with a real instance, no database),
* rows through SQLite (``bulk_create`` then read every encrypted attribute),
* blind indexes for email, phone (includes ``phonenumbers`` parsing) and name tokens.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 3


def _setup_django(workdir: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    os.environ["HEROSHHI_VAR_DIR"] = workdir  # database, keys, broker folders: all temporary
    for name in ("DATABASE_URL", "HEROSHHI_MASTER_KEYS", "HEROSHHI_MASTER_KEYS_FILE"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def _rate(operation: Callable[[], object], count: int) -> float:
    """Best operations per second over a few rounds."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(count):
            operation()
        best = min(best, time.perf_counter() - started)
    return count / best


def _report(label: str, ops_per_second: float) -> None:
    print(f"{label:<58} {ops_per_second:>12,.0f} ops/s  {1e6 / ops_per_second:>8.2f} µs/op")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir:
        _setup_django(workdir)
        _run()


def _run() -> None:
    import uuid
    from typing import cast

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from heroshhi.core.crypto import (
        EncryptedTextField,
        FieldContext,
        blind_index,
        canonical_workspace_id,
        decrypt_value,
        encrypt_value,
        name_tokens,
    )
    from heroshhi.core.crypto.keys import data_key
    from heroshhi.core.tests.crypto.testapp.models import SecretNote
    from heroshhi.workspaces.models import Workspace

    workspace = Workspace.objects.create(slug="bench", name="Bench")
    value = ("Priya Sharma, +91 98765 43210, priya.sharma@example.in, Pune 411001. " * 2)[:100]
    plaintext = value.encode()
    key = data_key(workspace.pk)
    print(f"value: {len(plaintext)} bytes; Python {sys.version.split()[0]}\n")

    aead = AESGCM(os.urandom(32))
    nonce = os.urandom(12)

    def primitive() -> None:
        aead.decrypt(nonce, aead.encrypt(nonce, plaintext, b"aad"), b"aad")

    _report("AES-256-GCM primitive, encrypt+decrypt", _rate(primitive, 50_000))

    context = FieldContext(
        workspace_id=canonical_workspace_id(workspace.pk),
        table="bench",
        column="value",
        row_id=str(uuid.uuid4()),
    )

    def envelope() -> None:
        decrypt_value(encrypt_value(plaintext, context=context, key=key), context=context)

    _report("encrypt_value+decrypt_value, cached key", _rate(envelope, 50_000))

    body = cast(EncryptedTextField, SecretNote._meta.get_field("body"))
    note = SecretNote(workspace=workspace)

    def field_path() -> None:
        body.unseal(note, body.seal(note, value))

    _report("model field seal+unseal (no database)", _rate(field_path, 50_000))

    def rows_through_sqlite() -> None:
        notes = [SecretNote(workspace=workspace, body=value) for _ in range(1_000)]
        SecretNote.objects.unscoped().bulk_create(notes)
        for stored in SecretNote.objects.unscoped().filter(workspace=workspace)[:1_000]:
            _ = stored.body
        SecretNote.objects.unscoped().all().delete()

    _report(
        "rows: bulk_create + load + decrypt (SQLite), per row",
        1_000 * _rate(rows_through_sqlite, 1),
    )

    _report(
        "blind_index email",
        _rate(lambda: blind_index(workspace.pk, "email", "Priya@Ex.in"), 50_000),
    )
    _report(
        "blind_index phone (incl. E.164 parsing)",
        _rate(lambda: blind_index(workspace.pk, "phone", "098765-43210"), 20_000),
    )
    _report(
        "name_tokens, 3-word name (3 indexes per op)",
        _rate(lambda: name_tokens(workspace.pk, "Priya Anand Sharma"), 20_000),
    )


if __name__ == "__main__":
    main()
