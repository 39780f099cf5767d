"""Writers of one workspace never wait for each other on the audit chain, and a sequencer
killed mid-batch leaves the chain whole. Real concurrency needs PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/1 \\
    .venv/bin/pytest -n 0 -q heroshhi/audit/tests/test_sequencer_concurrency.py
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from heroshhi.audit import sequencer
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditChainHead, AuditEvent
from heroshhi.audit.selectors import audit_queue
from heroshhi.audit.services import audit_record
from heroshhi.audit.verify import verify_chain
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.leads import lead_create
from heroshhi.workspaces.permissions import Role

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="concurrent writers need PostgreSQL; run with DATABASE_URL=postgres://…",
    ),
]
ROOT = Path(__file__).resolve().parents[3]


def _in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(0..count-1)`` in as many threads at once; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            start.wait(timeout=30)
            work(n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own; the test database must be freed

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer never finished"
    return errors


def _seqs(chain: str) -> list[int | None]:
    return list(
        AuditEvent.objects.filter(chain=chain).order_by("seq").values_list("seq", flat=True)
    )


def test_writers_of_one_chain_hold_no_lock_on_it_while_their_transactions_are_open(world):
    cache.clear()
    chain = str(world.a.pk)
    before = len(_seqs(chain))
    both_inserted = threading.Barrier(2)
    actor = Actor.user(world.alice.pk, role=Role.OWNER)

    def write(n: int) -> None:
        with transaction.atomic():
            audit_record(
                workspace=world.a, actor=actor, action=AuditAction.LEAD_UPDATED, metadata={"n": n}
            )
            # Each writer's event is in while the other's transaction is still open: with a
            # lock on the chain head, the second insert would wait here for the first commit.
            both_inserted.wait(timeout=10)

    assert _in_threads(2, write) == []
    assert _seqs(chain) == list(range(1, before + 3))
    result = verify_chain(chain)
    assert result.ok, result.problem
    assert result.queue.count == 0


def test_50_concurrent_lead_creates_in_one_workspace_give_a_verifying_chain(world):
    cache.clear()
    chain = str(world.a.pk)
    before = AuditEvent.objects.filter(chain=chain).count()
    actor = Actor.user(world.alice.pk, role=Role.OWNER)

    def create(n: int) -> None:
        lead_create(
            workspace=world.a,
            actor=actor,
            name=f"Concurrent {n}",
            phone=f"+9198{n:08d}",
            email=None,
            source="api",
        )

    assert _in_threads(50, create) == []

    with workspace_scope(world.a):
        assert Lead.objects.count() == 50
    created = AuditEvent.objects.filter(chain=chain, action=AuditAction.LEAD_CREATED)
    assert created.count() == 50
    # Every commit woke the sequencer, and each run looks again after its commit: nothing
    # is left queued, and the chain is one unbroken run of links.
    assert audit_queue(chain).count == 0
    total = AuditEvent.objects.filter(chain=chain).count()
    assert total >= before + 50
    assert _seqs(chain) == list(range(1, total + 1))
    result = verify_chain(chain)
    assert result.ok, result.problem
    assert result.events_checked == total


# A sequencer killed mid-batch ------------------------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_sequencer(chain: str, batch_size: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "heroshhi.audit.tests.sequencer_process", chain, str(batch_size)],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DATABASE_URL": _database_url(),
            "PYTHONUNBUFFERED": "1",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _held_by_another_sequencer(chain: str) -> bool:
    with transaction.atomic():
        return not sequencer.lock_chain(chain, wait=False)


def _wait_until_holding(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if ready else b""
    if line.strip() != b"holding":
        process.kill()
        stderr = process.stderr.read().decode()[-2000:] if process.stderr else ""
        pytest.fail(f"the sequencer process did not reach its second batch: {stderr}")


@pytest.mark.audit_queue
def test_a_sequencer_killed_mid_batch_leaves_no_gap_and_the_next_run_completes_it(world, record):
    chain = str(world.a.pk)
    for _ in range(3):
        record(world.a)
    sequencer.audit_sequence(chain)
    linked = AuditChainHead.objects.get(chain=chain).last_seq
    for n in range(7):
        record(world.a, metadata={"n": n})

    # Batches of 4: the first commits, the second is written and held open.
    process = _start_sequencer(chain, batch_size=4)
    try:
        _wait_until_holding(process)
        assert AuditChainHead.objects.get(chain=chain).last_seq == linked + 4
        assert audit_queue(chain).count == 3  # the open batch is not visible
        assert sequencer.audit_sequence(chain).busy  # and it holds the chain
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    # The server rolls the open batch back once it notices its client is gone.
    deadline = time.monotonic() + 30
    while _held_by_another_sequencer(chain):
        assert time.monotonic() < deadline, "the killed sequencer's lock was never released"
        time.sleep(0.05)
    head = AuditChainHead.objects.get(chain=chain)
    assert head.last_seq == linked + 4
    assert audit_queue(chain).count == 3
    result = verify_chain(chain)
    assert result.ok, result.problem
    assert result.events_checked == linked + 4

    assert sequencer.audit_sequence(chain).linked == 3
    assert _seqs(chain) == list(range(1, linked + 8))
    result = verify_chain(chain)
    assert result.ok, result.problem
    assert (result.events_checked, result.queue.count) == (linked + 7, 0)
