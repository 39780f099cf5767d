"""The audit sequencer: links queued events into their chain, in batches, one run per chain.

Writers only queue: ``audit_record`` inserts the event with the writer's entry MAC in the
caller's transaction and asks for a wake-up once it commits (``sequence_after_commit``).
The task that wake-up queues, and beat for anything left behind, call ``audit_sequence``.

Each batch is one transaction that takes the chain's sequencer lock, reads the queued events
it can see in id order (so events committed earlier are linked first), gives each the next
``seq``, the MAC before it and its own MAC, and moves the chain head. A sequencer killed
mid-batch therefore leaves the batch as it was, queued, and the next run links it again
from the same head: no gap, no double link (docs/adr/0015-audit-sequencer.md).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import partial
from uuid import UUID

from django.db import connection, models, transaction

from heroshhi.audit import integrity
from heroshhi.audit.models import GENESIS_MAC, AuditChainHead, AuditEvent
from heroshhi.core.bulk import rows_update

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
# A run yields its worker after this many batches, so one busy chain cannot hold it; the
# task wakes the chain again for the rest.
MAX_BATCHES_PER_RUN = 20
# Class of the PostgreSQL advisory locks below (the second key is the chain's).
_SEQUENCER_LOCK = 7102


@dataclass(slots=True)
class SequenceRun:
    chain: str
    linked: int = 0
    # Another sequencer held the chain: it links what this run would have.
    busy: bool = False
    # Stopped at MAX_BATCHES_PER_RUN with events still queued.
    unfinished: bool = False
    # Queued rows whose entry MAC does not match: never linked, left as evidence.
    rejected: set[UUID] = field(default_factory=set)


def sequence_after_commit(chain: str) -> None:
    """Wake the chain's sequencer once the caller's transaction commits.

    The test suite replaces this (see the root conftest): a test's transaction never commits.
    """
    from heroshhi.audit.tasks import sequencer_wake  # the tasks module imports this one

    transaction.on_commit(partial(sequencer_wake, chain))


def audit_sequence(
    chain: str, *, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES_PER_RUN
) -> SequenceRun:
    """Link the chain's queued events, a batch per transaction, until none is left.

    Returns at once, ``busy``, when another sequencer holds the chain. A run looks for
    queued events again after each commit, so an event committed while it held the lock is
    linked by it, or by whoever holds the lock next. (The purge, which links inside its own
    transaction, leaves an event committed meanwhile to the next wake-up or to beat.)
    """
    run = SequenceRun(chain=chain)
    for _ in range(max_batches):
        with transaction.atomic():
            if not lock_chain(chain, wait=False):
                run.busy = True
                return run
            _, linked = _link_batch(chain, batch_size=batch_size, skip=run.rejected)
        run.linked += linked
        # Asked after the commit: whatever committed meanwhile is this run's to link.
        if not _queued(chain).exclude(pk__in=run.rejected).exists():
            return run
    run.unfinished = True
    return run


def link_pending(chain: str, *, batch_size: int = BATCH_SIZE) -> int:
    """In the caller's transaction: wait for the chain's lock, then link every queued event
    this transaction can see; the number linked. The purge links its receipt this way, in
    the transaction that writes its checkpoint."""
    rejected: set[UUID] = set()
    linked = 0
    with transaction.atomic(savepoint=False):
        lock_chain(chain, wait=True)
        while True:
            seen, count = _link_batch(chain, batch_size=batch_size, skip=rejected)
            linked += count
            if seen < batch_size:
                return linked


def lock_chain(chain: str, *, wait: bool) -> bool:
    """Take the chain's sequencer lock until the transaction ends; False if another holds it.

    On PostgreSQL an advisory lock, so sequencers of other chains run in parallel and one
    that finds its chain taken moves on instead of queueing. SQLite lets one writer in at a
    time, so the caller's transaction already excludes every other sequencer.
    """
    if connection.vendor != "postgresql":
        return True
    key = int.from_bytes(hashlib.sha256(chain.encode()).digest()[:4], "big", signed=True)
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_SEQUENCER_LOCK, key])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_SEQUENCER_LOCK, key])
        row = cursor.fetchone()
        return bool(row and row[0])


def _queued(chain: str) -> models.QuerySet[AuditEvent]:
    # A plain QuerySet: the one way past AuditEventQuerySet's refusal of updates. Its
    # filter is part of every link UPDATE, so a row is linked once, while still queued.
    return models.QuerySet(model=AuditEvent).filter(chain=chain, seq__isnull=True)


def _link_batch(chain: str, *, batch_size: int, skip: set[UUID]) -> tuple[int, int]:
    """Link up to ``batch_size`` queued events (the chain's lock held); (seen, linked)."""
    head, _ = AuditChainHead.objects.select_for_update().get_or_create(
        chain=chain, defaults={"last_seq": 0, "last_mac": GENESIS_MAC}
    )
    queued = list(_queued(chain).exclude(pk__in=skip).order_by("id")[:batch_size])
    ring = integrity.keyring()
    linked: list[AuditEvent] = []
    for event in queued:
        secret = ring.get(event.key_id)
        if secret is None or not _entry_matches(event, secret):
            skip.add(event.pk)
            logger.error(
                "audit sequencer left a queued event that does not match its entry MAC",
                extra={"chain": chain, "event_id": str(event.pk)},
            )
            continue
        event.seq = head.last_seq + 1
        event.prev_mac = head.last_mac
        event.mac = integrity.event_mac(event, secret)
        head.last_seq, head.last_mac = event.seq, event.mac
        linked.append(event)
    if linked:
        written = _write_links(chain, linked)
        if written != len(linked):
            # Only a second sequencer could have linked them; undo the batch, link nothing.
            raise RuntimeError("queued audit events were linked by someone else")
        head.save(update_fields=["last_seq", "last_mac"])
    return len(queued), len(linked)


def _write_links(chain: str, events: list[AuditEvent]) -> int:
    """Store the events' seq, prev_mac and mac, each only while still queued; rows written."""
    if connection.vendor == "postgresql":
        return rows_update(_queued(chain), events, ["seq", "prev_mac", "mac"])
    # Elsewhere (SQLite) one statement run per row: Django's bulk_update builds a CASE per
    # field and row, which costs milliseconds a row in Python.
    key = AuditEvent._meta.pk
    assert key is not None
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    sql = (
        f"UPDATE {table} SET seq = %s, prev_mac = %s, mac = %s "  # noqa: S608
        "WHERE id = %s AND chain = %s AND seq IS NULL"
    )
    rows = [
        (event.seq, event.prev_mac, event.mac, key.get_db_prep_value(event.pk, connection), chain)
        for event in events
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)


def _entry_matches(event: AuditEvent, secret: bytes) -> bool:
    try:
        expected = integrity.entry_mac(event, secret)
    except (TypeError, ValueError):
        return False  # content that could never have been sealed
    return integrity.macs_equal(expected, event.entry_mac)
