"""Checking the audit chains: recompute every MAC and report the first problem per chain.

A chain is walked in seq order from its newest checkpoint (or from seq 1): verification
covers the linked part of a chain. Events still queued for the sequencer have no place in
it yet; they are counted with the age of the oldest (``queue``), and each must still match
the entry MAC its writer sealed it with. What each problem usually means:

* ``mac_mismatch``: a row's content no longer matches its MAC (edited, or forged without
  the key);
* ``seq_gap``: a sequence number is missing (row deleted);
* ``broken_link``: ``prev_mac`` does not name the row before it (row inserted, or rows
  reordered);
* ``beyond_head`` / ``head_mismatch`` / ``head_missing``: the rows and the chain head
  disagree (rows appended behind the service's back, or the newest rows deleted);
* ``checkpoint_invalid`` / ``receipt_missing``: a purge checkpoint was forged or altered, or
  lacks the receipt the purge writes into the live chain;
* ``entry_mismatch``: a queued event's content does not match its entry MAC (edited or
  inserted while it waited; the sequencer refuses to link it).

Results are plain data so the management command, tests and a compliance page share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from heroshhi.audit import integrity
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import (
    GENESIS_MAC,
    PLATFORM_CHAIN,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
)
from heroshhi.audit.selectors import AuditQueue, audit_queue

DEFAULT_BATCH = 1000


class ProblemCode(StrEnum):
    MAC_MISMATCH = "mac_mismatch"
    SEQ_GAP = "seq_gap"
    BROKEN_LINK = "broken_link"
    BEYOND_HEAD = "beyond_head"
    HEAD_MISMATCH = "head_mismatch"
    HEAD_MISSING = "head_missing"
    UNKNOWN_KEY = "unknown_key"
    WRONG_WORKSPACE = "wrong_workspace"
    CHECKPOINT_INVALID = "checkpoint_invalid"
    RECEIPT_MISSING = "receipt_missing"
    ENTRY_MISMATCH = "entry_mismatch"


@dataclass(frozen=True, slots=True)
class ChainProblem:
    code: ProblemCode
    seq: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class ChainResult:
    chain: str
    events_checked: int
    start_seq: int
    head_seq: int
    checkpoint_seq: int | None
    problem: ChainProblem | None
    # Events not linked yet, as the walk ended.
    queue: AuditQueue

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class SegmentResult:
    checked: int
    last_seq: int
    last_mac: str
    problem: ChainProblem | None


class _Walker:
    """Checks events one by one against the running (seq, prev_mac) of a chain."""

    def __init__(
        self, chain: str, *, after_seq: int, prev_mac: str, receipt_for: int | None
    ) -> None:
        self.chain = chain
        self.last_seq = after_seq
        self.prev_mac = prev_mac
        self.checked = 0
        self.ring = integrity.keyring()
        self.receipt_for = receipt_for
        self.receipt: dict[str, object] | None = None

    def step(self, event: AuditEvent) -> ChainProblem | None:
        problem = self._problem(event)
        if problem is None:
            self._remember_receipt(event)
            self.last_seq += 1  # the event's seq, as _problem checked
            self.prev_mac = event.mac
            self.checked += 1
        return problem

    def _problem(self, event: AuditEvent) -> ChainProblem | None:
        expected = self.last_seq + 1
        if event.seq != expected:
            return ChainProblem(
                ProblemCode.SEQ_GAP, expected, f"event {expected} is missing (deleted?)"
            )
        secret = self.ring.get(event.key_id)
        if secret is None:
            return ChainProblem(
                ProblemCode.UNKNOWN_KEY, event.seq, "sealed with a key that is not configured"
            )
        if not integrity.macs_equal(event.prev_mac, self.prev_mac):
            return ChainProblem(
                ProblemCode.BROKEN_LINK,
                event.seq,
                f"does not follow event {self.last_seq} (inserted or reordered?)",
            )
        if not self._mac_matches(event, secret):
            return ChainProblem(
                ProblemCode.MAC_MISMATCH, event.seq, "content does not match its MAC (edited?)"
            )
        if event.workspace_id is not None and str(event.workspace_id) != self.chain:
            return ChainProblem(
                ProblemCode.WRONG_WORKSPACE, event.seq, "points at another workspace"
            )
        return None

    @staticmethod
    def _mac_matches(event: AuditEvent, secret: bytes) -> bool:
        try:
            expected = integrity.event_mac(event, secret)
        except (TypeError, ValueError):
            return False  # content that could never have been sealed
        return integrity.macs_equal(expected, event.mac)

    def _remember_receipt(self, event: AuditEvent) -> None:
        if self.receipt_for is None or event.action != AuditAction.AUDIT_PURGED:
            return
        metadata = event.metadata if isinstance(event.metadata, dict) else {}
        if metadata.get("last_seq") == self.receipt_for:
            self.receipt = metadata


def _events(
    chain: str, *, after_seq: int, through_seq: int | None, batch_size: int
) -> Iterator[AuditEvent]:
    """Linked events of ``chain`` in seq order, fetched in keyset pages."""
    last = after_seq
    while True:
        page = AuditEvent.objects.filter(chain=chain, seq__gt=last)
        if through_seq is not None:
            page = page.filter(seq__lte=through_seq)
        batch = list(page.order_by("seq")[:batch_size])
        if not batch:
            return
        yield from batch
        last = _linked_seq(batch[-1])


def _linked_seq(event: AuditEvent) -> int:
    """The seq of an event read by ``_events``, which reads linked events only."""
    return cast(int, event.seq)


def _queued_events(chain: str, *, batch_size: int) -> Iterator[AuditEvent]:
    """Queued events of ``chain`` in id order, fetched in keyset pages."""
    page = AuditEvent.objects.filter(chain=chain, seq__isnull=True).order_by("id")
    batch = list(page[:batch_size])
    while batch:
        yield from batch
        batch = list(page.filter(id__gt=batch[-1].pk)[:batch_size])


def _queued_problem(chain: str, *, batch_size: int) -> ChainProblem | None:
    ring = integrity.keyring()
    for event in _queued_events(chain, batch_size=batch_size):
        secret = ring.get(event.key_id)
        try:
            sealed = secret is not None and integrity.macs_equal(
                integrity.entry_mac(event, secret), event.entry_mac
            )
        except (TypeError, ValueError):
            sealed = False  # content that could never have been sealed
        if not sealed:
            return ChainProblem(
                ProblemCode.ENTRY_MISMATCH,
                None,
                f"queued event {event.pk} does not match its entry MAC (edited or inserted?)",
            )
    return None


def latest_checkpoint(chain: str) -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.filter(chain=chain).order_by("-through_seq").first()


def _checkpoint_problem(checkpoints: list[AuditCheckpoint]) -> ChainProblem | None:
    """Every checkpoint must be sealed by a known key and continue the one before it."""
    ring = integrity.keyring()
    next_first = 1
    for checkpoint in checkpoints:
        secret = ring.get(checkpoint.key_id)
        sealed = secret is not None and integrity.macs_equal(
            integrity.checkpoint_mac(checkpoint, secret), checkpoint.mac
        )
        contiguous = (
            checkpoint.first_seq == next_first
            and checkpoint.through_seq >= checkpoint.first_seq
            and checkpoint.count == checkpoint.through_seq - checkpoint.first_seq + 1
        )
        if not (sealed and contiguous):
            return ChainProblem(
                ProblemCode.CHECKPOINT_INVALID,
                checkpoint.through_seq,
                "purge checkpoint is not authentic or does not follow the previous one",
            )
        next_first = checkpoint.through_seq + 1
    return None


def verify_segment(
    chain: str, *, after_seq: int, prev_mac: str, through_seq: int, batch_size: int = DEFAULT_BATCH
) -> SegmentResult:
    """Check events ``after_seq+1..through_seq``; the purge runs this before deleting them."""
    walker = _Walker(chain, after_seq=after_seq, prev_mac=prev_mac, receipt_for=None)
    events = _events(chain, after_seq=after_seq, through_seq=through_seq, batch_size=batch_size)
    problem = next((p for p in map(walker.step, events) if p is not None), None)
    if problem is None and walker.last_seq < through_seq:
        expected = walker.last_seq + 1
        problem = ChainProblem(ProblemCode.SEQ_GAP, expected, f"event {expected} is missing")
    return SegmentResult(walker.checked, walker.last_seq, walker.prev_mac, problem)


def _head(chain: str) -> AuditChainHead | None:
    return AuditChainHead.objects.filter(chain=chain).first()


def _verify_once(chain: str, *, batch_size: int) -> ChainResult:
    checkpoints = list(AuditCheckpoint.objects.filter(chain=chain).order_by("through_seq"))
    anchor = checkpoints[-1] if checkpoints else None
    after_seq = anchor.through_seq if anchor else 0
    walker = _Walker(
        chain,
        after_seq=after_seq,
        prev_mac=anchor.through_mac if anchor else GENESIS_MAC,
        receipt_for=anchor.through_seq if anchor else None,
    )
    head = _head(chain)

    def result(problem: ChainProblem | None) -> ChainResult:
        return ChainResult(
            chain=chain,
            events_checked=walker.checked,
            start_seq=after_seq + 1,
            head_seq=head.last_seq if head else 0,
            checkpoint_seq=anchor.through_seq if anchor else None,
            problem=problem,
            queue=audit_queue(chain),
        )

    problem = _checkpoint_problem(checkpoints)
    if problem is not None:
        return result(problem)
    for event in _events(chain, after_seq=after_seq, through_seq=None, batch_size=batch_size):
        if head is None or _linked_seq(event) > head.last_seq:
            head = _head(chain)  # it may simply have been appended since we looked
            problem = _beyond_head(event, head)
            if problem is not None:
                return result(problem)
        problem = walker.step(event)
        if problem is not None:
            return result(problem)
    problem = _tail_problem(walker, head, anchor)
    return result(problem or _queued_problem(chain, batch_size=batch_size))


def _beyond_head(event: AuditEvent, head: AuditChainHead | None) -> ChainProblem | None:
    if head is None:
        return ChainProblem(ProblemCode.HEAD_MISSING, event.seq, "chain has events but no head")
    if _linked_seq(event) > head.last_seq:
        return ChainProblem(
            ProblemCode.BEYOND_HEAD,
            event.seq,
            f"event is past the chain head at {head.last_seq} (inserted?)",
        )
    return None


def _tail_problem(
    walker: _Walker, head: AuditChainHead | None, anchor: AuditCheckpoint | None
) -> ChainProblem | None:
    head_seq = head.last_seq if head else 0
    if walker.last_seq != head_seq:
        return ChainProblem(
            ProblemCode.HEAD_MISMATCH,
            walker.last_seq + 1,
            f"chain head is at {head_seq} but the events end at {walker.last_seq} (deleted?)",
        )
    if head is not None and not integrity.macs_equal(head.last_mac, walker.prev_mac):
        return ChainProblem(
            ProblemCode.HEAD_MISMATCH, head_seq, "chain head does not match the last event"
        )
    if anchor is not None and not _receipt_matches(walker.receipt, anchor):
        return ChainProblem(
            ProblemCode.RECEIPT_MISSING,
            anchor.through_seq,
            "purge checkpoint has no matching receipt in the chain",
        )
    return None


def _receipt_matches(receipt: dict[str, object] | None, anchor: AuditCheckpoint) -> bool:
    return (
        receipt is not None
        and receipt.get("first_seq") == anchor.first_seq
        and receipt.get("count") == anchor.count
        and receipt.get("last_mac") == anchor.through_mac
    )


def verify_chain(chain: str, *, batch_size: int = DEFAULT_BATCH) -> ChainResult:
    result = _verify_once(chain, batch_size=batch_size)
    if result.ok:
        return result
    # A purge that ran during the walk can leave a gap that its new checkpoint explains.
    newest = latest_checkpoint(chain)
    if (newest.through_seq if newest else None) == result.checkpoint_seq:
        return result
    return _verify_once(chain, batch_size=batch_size)


def audit_chains() -> list[str]:
    """Every chain that has a head, events or checkpoints; the platform chain first."""
    chains: set[str] = set(AuditChainHead.objects.values_list("chain", flat=True))
    chains.update(AuditEvent.objects.values_list("chain", flat=True).distinct())
    chains.update(AuditCheckpoint.objects.values_list("chain", flat=True).distinct())
    return sorted(chains, key=lambda chain: (chain != PLATFORM_CHAIN, chain))


def verify_chains(
    chains: Iterable[str] | None = None, *, batch_size: int = DEFAULT_BATCH
) -> list[ChainResult]:
    """Verify the given chains, or all of them."""
    selected = audit_chains() if chains is None else list(chains)
    return [verify_chain(chain, batch_size=batch_size) for chain in selected]
