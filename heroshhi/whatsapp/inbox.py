"""Processing the webhook inbox, and the sweep that makes sure nothing stays in it.

The Celery tasks in ``tasks.py`` only call in here.

Every item of a delivery is idempotent on its own (a message by wamid, a status by its
monotonic order, a preference by its event key, a call by call id and event), so a delivery
can be processed twice (broker redelivery after a worker died, the sweeper, two workers at
once) without doubling anything.

Throughput: a drain claims a workspace's never-claimed deliveries ``CLAIM_BATCH`` at a time
in one statement that counts the attempt and returns the rows (``FOR UPDATE SKIP LOCKED``
on PostgreSQL). Each batch is processed in one transaction, one worker per workspace at a
time, with inbound messages and statuses written set-based (docs/adr/0009); everything
else goes item by item in the same transaction.

Failures are sorted the way convention 8 asks, one item never costing its neighbours
(docs/adr/0017):

- an item we cannot read or whose values our columns cannot hold (the parser's
  ``ItemError``), one our rules refuse (``ValidationError``) and one the database refuses
  (``DataError``) would fail the same way again: it is set aside as a ``FailedInboundItem``
  with its reason, counted in the summary as ``item_errors`` and never retried with the
  delivery; an owner can replay it;
- if the set-based write of a batch fails, its items are applied one by one, each in its own
  savepoint, so only the item that fails again is left out;
- any other exception (a lock timeout, a lost connection) leaves the delivery RECEIVED with
  the error class in ``error``, and the sweeper tries again; a crash of the whole delivery
  rolls all of it back, to be redone in full;
- after ``MAX_ATTEMPTS`` tries (each claim counts, including ones whose worker was killed)
  the delivery is marked UNPROCESSABLE with ``gave_up:…`` and the summary of what did work,
  its still failing items set aside, so a poison delivery cannot loop forever and still
  shows up where ops look for trouble.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from django.utils import timezone

from heroshhi.core.bulk import rows_update
from heroshhi.core.crypto import blind_index_memo
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging import calls, inbound, optout, statuses
from heroshhi.messaging.events import (
    CallEvent,
    InboundMessage,
    StatusUpdate,
    TemplateStatusUpdate,
    UserPreference,
)
from heroshhi.messaging.models import Channel
from heroshhi.whatsapp.models import FailedInboundItem, WebhookDelivery, WhatsAppChannel
from heroshhi.whatsapp.parsing import (
    Item,
    ItemError,
    ParsedDelivery,
    PayloadError,
    Unknown,
    load_body,
    parse_delivery,
)
from heroshhi.workspaces.models import Workspace

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A RECEIVED delivery not (re)queued for this long has been lost by the broker or its worker.
REQUEUE_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 500
# Deliveries processed together in one transaction. Most carry one event, and a batch's
# statements do not grow with its size, so a large batch halves the worker's CPU per event
# against 20 (bench/ack_cost.py); a drain that keeps up claims whatever came in meanwhile.
CLAIM_BATCH = 100
# How long one inbox task drains before handing over to a fresh task.
DRAIN_SECONDS = 5.0
ERROR_MAX = 200
# Raw bodies hold names, numbers and message text already copied (encrypted) where they
# belong; they are kept only as long as they help to investigate a delivery.
KEEP_PROCESSED = timedelta(days=7)
KEEP_UNPROCESSABLE = timedelta(days=30)


def stale_deliveries_claim() -> list[uuid.UUID]:
    """RECEIVED deliveries nobody has touched for ``REQUEUE_AFTER``, each claimed by
    compare-and-swap on its ``queued_at`` (so two sweeps never re-queue the same one): the
    ids to queue again, oldest first."""
    now = timezone.now()
    stale = list(
        WebhookDelivery.objects.unscoped()
        .filter(status=WebhookDelivery.Status.RECEIVED, queued_at__lt=now - REQUEUE_AFTER)
        .order_by("queued_at")
        .values_list("pk", "queued_at")[:SWEEP_BATCH]
    )
    claimed = []
    for pk, queued_at in stale:
        if (
            WebhookDelivery.objects.unscoped()
            .filter(pk=pk, status=WebhookDelivery.Status.RECEIVED, queued_at=queued_at)
            .update(queued_at=now)
        ):
            claimed.append(pk)
    return claimed


def webhook_deliveries_prune() -> int:
    """Delete finished deliveries past their keeping time; RECEIVED ones are never pruned.
    One with an item waiting for replay is kept as long as an unprocessable one."""
    now = timezone.now()
    deliveries = WebhookDelivery.objects.unscoped()
    awaiting_replay = (
        FailedInboundItem.objects.unscoped()
        .filter(state=FailedInboundItem.State.PENDING, delivery__isnull=False)
        .values("delivery_id")
    )
    deleted, _ = (
        deliveries.filter(
            status=WebhookDelivery.Status.PROCESSED, processed_at__lt=now - KEEP_PROCESSED
        )
        .exclude(pk__in=awaiting_replay, processed_at__gte=now - KEEP_UNPROCESSABLE)
        .delete()
    )
    dropped, _ = deliveries.filter(
        status=WebhookDelivery.Status.UNPROCESSABLE, processed_at__lt=now - KEEP_UNPROCESSABLE
    ).delete()
    if deleted or dropped:
        logger.info("pruned webhook deliveries", extra={"count": deleted + dropped})
    return deleted + dropped


def delivery_process(*, delivery_id: str) -> WebhookDelivery | None:
    """Process one inbox row by id (found unscoped, processed in its workspace's scope).
    None when it does not exist, is already finished, or another worker holds it."""
    claimed = _claim(delivery_id)
    if not claimed:
        return None
    return claimed[0] if _process_together(claimed) else None


@dataclass(frozen=True, slots=True)
class Drained:
    processed: int
    # The time budget ran out with deliveries left: a fresh task should carry on.
    unfinished: bool
    # The first batch that crashed (kept for the sweeper, its attempts counted).
    crash: Exception | None


def inbox_drain(*, workspace_id: uuid.UUID, budget_seconds: float | None = None) -> Drained:
    """Process the workspace's never-claimed deliveries, ``CLAIM_BATCH`` at a time, until
    none is left or ``budget_seconds`` have passed, so one busy workspace cannot hold a
    worker from everyone else's (``DRAIN_SECONDS`` unless given). A batch that crashes does
    not stop the drain."""
    deadline = time.monotonic() + (DRAIN_SECONDS if budget_seconds is None else budget_seconds)
    crash: Exception | None = None
    done = 0
    while claimed := _claim_fresh(workspace_id, limit=CLAIM_BATCH):
        processed, failed = _process_batch(claimed)
        done, crash = done + processed, crash or failed
        if time.monotonic() > deadline:
            return Drained(processed=done, unfinished=True, crash=crash)
    return Drained(processed=done, unfinished=False, crash=crash)


def _process_batch(deliveries: list[WebhookDelivery]) -> tuple[int, Exception | None]:
    """Claimed deliveries of one workspace, together, in one transaction with set-based
    writes. If that fails, each is retried on its own, so one that crashes is kept for a
    retry without holding back the others. (number processed, first crash)"""
    try:
        return _process_together(deliveries), None
    except Exception as exc:
        if len(deliveries) == 1:
            return 0, exc
    done, crash = 0, None
    for delivery in deliveries:
        try:
            done += _process_together([delivery])
        except Exception as exc:
            crash = crash or exc
    return done, crash


# Claims in one statement (UPDATE … RETURNING) that commits at once, so the attempt counts
# even if the worker is then killed. On PostgreSQL, SKIP LOCKED passes over rows another
# worker is claiming or processing (see _lock): it has them, and counting an attempt
# against them would be wrong; SQLite lets one writer in at a time anyway.
_CLAIM_ONE = (
    "UPDATE whatsapp_webhookdelivery SET attempts = attempts + 1, queued_at = %s "
    "WHERE id IN (SELECT id FROM whatsapp_webhookdelivery WHERE status = %s AND id = %s{lock}) "
    "RETURNING *"
)
_CLAIM_FRESH = (
    "UPDATE whatsapp_webhookdelivery SET attempts = attempts + 1, queued_at = %s "
    "WHERE id IN (SELECT id FROM whatsapp_webhookdelivery "
    "WHERE status = %s AND attempts = 0 AND workspace_id = %s "
    "ORDER BY queued_at LIMIT %s{lock}) RETURNING *"
)


def _claim(delivery_id: str) -> list[WebhookDelivery]:
    """Count an attempt on the named RECEIVED delivery and load it."""
    try:
        pk = uuid.UUID(str(delivery_id))
    except ValueError:
        return []
    return _claimed(_CLAIM_ONE, [WebhookDelivery.Status.RECEIVED, _db_uuid(pk)])


def _claim_fresh(workspace_id: uuid.UUID, *, limit: int) -> list[WebhookDelivery]:
    """Count an attempt on up to ``limit`` of the workspace's never-claimed deliveries,
    oldest first, and load them."""
    params = [WebhookDelivery.Status.RECEIVED, _db_uuid(workspace_id), limit]
    return _claimed(_CLAIM_FRESH, params)


def _claimed(sql: str, params: list[object]) -> list[WebhookDelivery]:
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    claimed = list(WebhookDelivery.objects.unscoped().raw(sql.format(lock=lock), [now, *params]))
    channels = (
        WhatsAppChannel.objects.unscoped()
        .select_related("channel", "workspace")
        .in_bulk({delivery.channel_id for delivery in claimed})
    )
    for delivery in claimed:
        delivery.channel = channels[delivery.channel_id]
        delivery.workspace = delivery.channel.workspace
    return sorted(claimed, key=lambda delivery: delivery.queued_at)


def _db_uuid(value: uuid.UUID) -> object:
    return WebhookDelivery._meta.pk.get_db_prep_value(value, connection)


def _process_together(deliveries: list[WebhookDelivery]) -> int:
    """Process claimed deliveries of one workspace; the number finished here. A delivery
    out of attempts is given up; the others are locked, read and applied in one
    transaction, so a crash rolls all of them back, to be redone in full."""
    workspace = deliveries[0].workspace
    done = 0
    with workspace_scope(workspace):
        live = []
        for delivery in deliveries:
            if delivery.attempts > MAX_ATTEMPTS:
                # No error recorded means no attempt got far enough to say: the worker died.
                reason = f"gave_up:{delivery.error or 'attempts_exhausted'}"
                _finish(
                    [(delivery, WebhookDelivery.Status.UNPROCESSABLE, reason, delivery.summary)]
                )
                done += 1
            else:
                live.append(delivery)
        if not live:
            return done
        try:
            # The items and the deliveries' final states commit together, under locks on
            # the delivery rows: a second worker given the same delivery waits, then finds
            # it processed, instead of doing the same work at the same time.
            with transaction.atomic(), blind_index_memo():
                _take_workspace_turn(workspace)
                held = _lock(live)
                mine = [delivery for delivery in live if delivery.pk in held]
                _finish(
                    [_process(delivery, items, ready) for delivery, items, ready in _read(mine)]
                )
        except Exception as exc:
            # Best effort: if the database is what failed, this note fails too.
            with suppress(DatabaseError):
                for delivery in live:
                    _keep_for_retry(delivery, f"crashed:{type(exc).__name__}", delivery.summary)
            raise
    return done + len(mine)


# Class of the PostgreSQL advisory locks below (the second key is the workspace's).
_WORKSPACE_TURN_LOCK = 7101


def _take_workspace_turn(workspace: Workspace) -> None:
    """Wait until no other worker is processing this workspace's deliveries; held until
    the transaction ends. Without it, two workers locking a workspace's conversations in
    bulk and its assignment and audit rows one by one can each wait for the other (a
    deadlock PostgreSQL breaks only after a second). Workspaces still run in parallel."""
    if connection.vendor != "postgresql":
        return  # SQLite lets one writer in at a time anyway
    key = int.from_bytes(workspace.pk.bytes[:4], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_WORKSPACE_TURN_LOCK, key])


def _lock(deliveries: list[WebhookDelivery]) -> set[uuid.UUID]:
    """Lock the claimed delivery rows that are still RECEIVED; their ids.

    It waits for a row another transaction holds rather than skipping it: we claimed these
    rows, so a holder is either a claim statement of another worker that looked at the row
    a moment ago (PostgreSQL keeps the row lock of a SKIP LOCKED scan until that statement
    commits, even when the row no longer matches) or a worker that claimed it by id and is
    finishing it, after which the status check leaves it out. Skipping would strand the
    row: with its attempt counted, only the sweeper would come back to it."""
    return set(
        WebhookDelivery.objects.select_for_update()
        .filter(pk__in=[delivery.pk for delivery in deliveries])
        .filter(status=WebhookDelivery.Status.RECEIVED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


# What one delivery comes to: the row, its final status, error and summary.
Outcome = tuple[WebhookDelivery, str, str, dict[str, int]]


def _read(
    deliveries: list[WebhookDelivery],
) -> list[tuple[WebhookDelivery, ParsedDelivery | PayloadError, dict[int, str]]]:
    """Parse every delivery, then apply the items that can go in bulk (inbound messages and
    statuses; the services leave out what must go one by one) for all of them at once: for
    each delivery, its parsed body (or why it cannot be read) and the summary keys of its
    items already applied, by position."""
    parsed: list[tuple[WebhookDelivery, ParsedDelivery | PayloadError]] = []
    for delivery in deliveries:
        try:
            data = load_body(delivery.body)
        except PayloadError as exc:
            parsed.append((delivery, exc))
            continue
        parsed.append(
            (delivery, parse_delivery(data, phone_number_id=delivery.channel.phone_number_id))
        )
    messages: list[tuple[tuple[int, int], Channel, InboundMessage]] = []
    updates: list[tuple[tuple[int, int], Channel, StatusUpdate]] = []
    for d, (delivery, body) in enumerate(parsed):
        for i, item in enumerate(body.items if isinstance(body, ParsedDelivery) else ()):
            if isinstance(item, InboundMessage):
                messages.append(((d, i), delivery.channel.channel, item))
            elif isinstance(item, StatusUpdate):
                updates.append(((d, i), delivery.channel.channel, item))
    ready: list[dict[int, str]] = [{} for _ in parsed]
    workspace = deliveries[0].workspace if deliveries else None
    if messages and workspace is not None:
        with _or_one_by_one("messages"):
            taken = inbound.inbound_messages_receive_many(
                workspace=workspace, arrivals=[(channel, item) for _at, channel, item in messages]
            )
            for n, created in taken.items():
                (d, i), *_rest = messages[n]
                ready[d][i] = "messages" if created else "duplicates"
    if updates and workspace is not None:
        with _or_one_by_one("statuses"):
            applied = statuses.statuses_apply_many(
                workspace=workspace, updates=[(channel, item) for _at, channel, item in updates]
            )
            for n, outcome in applied.items():
                (d, i), *_rest = updates[n]
                ready[d][i] = _STATUS_KEYS[outcome]
    return [(delivery, body, ready[d]) for d, (delivery, body) in enumerate(parsed)]


@contextmanager
def _or_one_by_one(what: str) -> Iterator[None]:
    """A set-based write in its own savepoint: if the database refuses what it was given,
    nothing of it stays and its items are left to the one-by-one path, where only the item
    that fails again is set aside. A failure of the database itself (a lost connection, a
    lock timeout) still crashes the batch, to be redone in full."""
    try:
        with transaction.atomic():
            yield
    except (DataError, IntegrityError) as exc:
        logger.warning(
            "set-based webhook write failed; applying its items one by one",
            extra={"items": what, "error": type(exc).__name__},
        )


def _process(
    delivery: WebhookDelivery, parsed: ParsedDelivery | PayloadError, ready: dict[int, str]
) -> Outcome:
    """The rest of the delivery's items, one by one, then its final state (or a retry for
    a failed item)."""
    if isinstance(parsed, PayloadError):
        return delivery, WebhookDelivery.Status.UNPROCESSABLE, parsed.reason, {}
    summary: Counter[str] = Counter()
    if parsed.foreign_numbers:
        summary["foreign_number"] = parsed.foreign_numbers
    first_error, failure = "", ""
    # Set aside for good (path → reason), and failing now but maybe not on a retry.
    set_aside: dict[str, str] = {}
    retry_may_help: dict[str, str] = {}
    for position, item in enumerate(parsed.items):
        path = parsed.paths[position]
        if position in ready:
            summary[ready[position]] += 1
            continue
        try:
            summary[item_apply(delivery.workspace, delivery.channel.channel, item)] += 1
        except ValidationError:
            summary["item_errors"] += 1
            first_error = first_error or f"rejected:{type(item).__name__}"
            set_aside[path] = f"rejected:{type(item).__name__}"
        except DataError:
            summary["item_errors"] += 1
            first_error = first_error or f"store_failed:{type(item).__name__}"
            set_aside[path] = "store_failed:DataError"
        except Exception as exc:
            # Class names only: an exception's text may quote a value.
            summary["failed_items"] += 1
            failure = failure or f"item_failed:{type(item).__name__}:{type(exc).__name__}"
            retry_may_help[path] = f"item_failed:{type(exc).__name__}"
            logger.warning(
                "webhook item failed; the delivery will be retried",
                extra={"delivery_id": str(delivery.pk), "error": type(exc).__name__},
            )
        if isinstance(item, ItemError):
            first_error = first_error or f"{item.where}:{item.reason}"
            set_aside[path] = item.reason
    delivery.contact_keys = _contact_keys(delivery.workspace, parsed.items)
    if failure and delivery.attempts < MAX_ATTEMPTS:
        _set_aside(delivery, set_aside)
        _keep_for_retry(delivery, failure, dict(summary))
        return delivery, WebhookDelivery.Status.RECEIVED, failure, dict(summary)
    _set_aside(delivery, set_aside | retry_may_help)
    if failure:
        return delivery, WebhookDelivery.Status.UNPROCESSABLE, f"gave_up:{failure}", summary
    return delivery, WebhookDelivery.Status.PROCESSED, first_error, summary


# The list an item sits in, from its path: "…changes[0].messages[1]" → "messages".
_ITEM_LIST = re.compile(r"\.([a-z_]+)(?:\[\d+\])?$")


def _set_aside(delivery: WebhookDelivery, reasons: dict[str, str]) -> None:
    """Record the items left out, once however often the delivery is processed."""
    if not reasons:
        return
    rows = []
    for path, reason in reasons.items():
        listed = _ITEM_LIST.search(path)
        kind = listed.group(1) if listed else "entry"
        rows.append(
            FailedInboundItem(
                workspace=delivery.workspace,
                channel=delivery.channel,
                delivery=delivery,
                path=path[:120],
                kind="change" if kind == "changes" else kind,
                reason=reason[:100],
            )
        )
    FailedInboundItem.objects.bulk_create(rows, ignore_conflicts=True)


# Items whose service does all its database work inside its own transaction.atomic().
_SELF_CONTAINED = (InboundMessage, StatusUpdate)


_STATUS_KEYS = {
    statuses.StatusOutcome.APPLIED: "statuses",
    statuses.StatusOutcome.STALE: "stale_statuses",
    statuses.StatusOutcome.UNKNOWN: "unknown_status",
}


def item_apply(workspace: Workspace, channel: Channel, item: Item) -> str:
    """Apply one item in its own savepoint (messages and statuses open theirs), so a
    failed one leaves the caller's transaction usable; the summary key it counts under."""
    with nullcontext() if isinstance(item, _SELF_CONTAINED) else transaction.atomic():
        return _apply(workspace, channel, item)


def _apply(workspace: Workspace, channel: Channel, item: Item) -> str:
    if isinstance(item, InboundMessage):
        received = inbound.inbound_message_receive(workspace=workspace, channel=channel, item=item)
        return "messages" if received.created else "duplicates"
    if isinstance(item, StatusUpdate):
        outcome = statuses.status_apply(workspace=workspace, channel=channel, item=item)
        return _STATUS_KEYS[outcome]
    if isinstance(item, UserPreference):
        inbound.preference_apply(workspace=workspace, channel=channel, item=item)
        return "preferences"
    if isinstance(item, CallEvent):
        applied = calls.call_event_apply(workspace=workspace, channel=channel, item=item)
        return "calls" if applied else "duplicates"
    if isinstance(item, TemplateStatusUpdate):
        statuses.template_status_apply(workspace=workspace, channel=channel, item=item)
        return "templates"
    if isinstance(item, Unknown):
        return "ignored"
    return "item_errors"


def _contact_keys(workspace: Workspace, items: list[Item]) -> str:
    keys: set[str] = set()
    for item in items:
        contact = getattr(item, "contact", None)
        if contact is None:
            continue
        found = optout.contact_keys(
            workspace=workspace, phone=inbound.contact_phone(contact), wa_user=contact.user_id
        )
        keys.update(key for key in (found.phone_bidx, found.wa_user_bidx) if key)
    return f" {' '.join(sorted(keys))} " if keys else ""


def _keep_for_retry(delivery: WebhookDelivery, error: str, summary: dict[str, int]) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.RECEIVED).update(
        error=error[:ERROR_MAX], summary=summary
    )
    delivery.error, delivery.summary = error[:ERROR_MAX], summary


def _finish(outcomes: list[Outcome]) -> None:
    """Record the final states (a delivery kept for retry stays RECEIVED), in one UPDATE."""
    now = timezone.now()
    finished = []
    for delivery, status, error, summary in outcomes:
        if status == WebhookDelivery.Status.RECEIVED:
            continue
        delivery.status, delivery.error, delivery.summary = status, error[:ERROR_MAX], dict(summary)
        delivery.processed_at = now
        finished.append(delivery)
    # Only rows still RECEIVED: another worker may have finished one given up here.
    rows_update(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.RECEIVED),
        finished,
        ["status", "error", "summary", "processed_at", "contact_keys"],
    )
