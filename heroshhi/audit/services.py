"""Every write to the audit log: ``audit_record`` and the retention purge.

Call ``audit_record`` inside the transaction of the change it describes, so the event and
the change commit or roll back together. Recording only inserts the event, queued and
sealed with the writer's entry MAC; it takes no lock, so writers of one chain never wait for
each other. Once the transaction commits, the sequencer links the event into its chain
(``heroshhi.audit.sequencer``, docs/adr/0015-audit-sequencer.md).
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from django.conf import settings
from django.db import models, transaction
from django.db.models import Min
from django.utils import timezone

from heroshhi.audit import integrity, sequencer
from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.errors import AuditMetadataError
from heroshhi.audit.metadata import clean_metadata, ensure_not_personal
from heroshhi.audit.models import (
    GENESIS_MAC,
    PLATFORM_CHAIN,
    AuditChainHead,
    AuditCheckpoint,
    AuditEvent,
)
from heroshhi.audit.verify import latest_checkpoint, verify_segment
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.request_context import current_request
from heroshhi.workspaces.models import Workspace

if TYPE_CHECKING:
    from heroshhi.audit.verify import ChainProblem

logger = logging.getLogger(__name__)

# A short machine code such as "bad_password" or "plan_limit"; never a sentence.
_CODE = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
PURGE_REASON = "retention"


def chain_for(workspace: Workspace | None) -> str:
    return PLATFORM_CHAIN if workspace is None else str(workspace.pk)


@dataclass(frozen=True, slots=True)
class _Entry:
    """The caller's part of an event, validated before anything is written."""

    actor_type: str
    actor_id: str
    actor_role: str
    action: str
    target_type: str
    target_id: str
    outcome: str
    reason: str
    metadata: dict[str, object]
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


def audit_record(
    *,
    workspace: Workspace | None,
    actor: Actor,
    action: AuditAction | str,
    outcome: Outcome | str = Outcome.SUCCESS,
    target: tuple[str, str | UUID | int] | None = None,
    reason: str = "",
    metadata: Mapping[str, object] | None = None,
) -> AuditEvent:
    """Queue one event for the workspace's chain (``workspace=None``: the platform chain).

    Returns the stored event as queued: ``seq``, ``prev_mac`` and ``mac`` are set in the
    database when the sequencer links it, after the caller's transaction commits.

    No plaintext personal data goes in: sealed rows cannot be edited, so an erasure request
    could never be honoured for data inside them. Name records by id and changed fields by
    name. Raises ``AuditPersonalDataError`` when any value looks like an e-mail address or
    a phone number (details in ``heroshhi.audit.metadata``), ``AuditMetadataError`` for
    other malformed input and ``ValueError`` for an action or outcome outside the
    vocabulary. Request facts (IP, user agent, request id) come from ``current_request``.
    """
    entry = _entry(
        actor=actor,
        action=action,
        outcome=outcome,
        target=target,
        reason=reason,
        metadata=metadata,
    )
    workspace_id = None if workspace is None else workspace.pk
    return _append(chain=chain_for(workspace), workspace_id=workspace_id, entry=entry)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event of a batch for ``audit_record_many``: the per-event parts only."""

    action: AuditAction | str
    target: tuple[str, str | UUID | int] | None = None
    outcome: Outcome | str = Outcome.SUCCESS
    reason: str = ""
    metadata: Mapping[str, object] | None = None


def audit_record_many(
    *, workspace: Workspace | None, actor: Actor, records: Sequence[AuditRecord]
) -> list[AuditEvent]:
    """Queue several events by one actor with one INSERT.

    For batch operations (a page of leads created at once): each change still gets its own
    event, with the same guarantees as ``audit_record``, at a fraction of the round trips.
    """
    entries = [
        _entry(
            actor=actor,
            action=record.action,
            outcome=record.outcome,
            target=record.target,
            reason=record.reason,
            metadata=record.metadata,
        )
        for record in records
    ]
    if not entries:
        return []
    workspace_id = None if workspace is None else workspace.pk
    return _append_many(chain=chain_for(workspace), workspace_id=workspace_id, entries=entries)


def _entry(
    *,
    actor: Actor,
    action: AuditAction | str,
    outcome: Outcome | str,
    target: tuple[str, str | UUID | int] | None,
    reason: str,
    metadata: Mapping[str, object] | None,
) -> _Entry:
    target_type, target_id = ("", "") if target is None else (target[0], str(target[1]))
    if reason and not _CODE.fullmatch(reason):
        raise AuditMetadataError("reason must be a short lower-case code such as 'bad_password'.")
    labelled = {
        "actor_id": (actor.id or "", 64),
        "actor_role": (actor.role or "", 32),
        "target_type": (target_type, 40),
        "target_id": (target_id, 64),
        "reason": (reason, 64),
    }
    for name, (value, limit) in labelled.items():
        if len(value) > limit:
            raise AuditMetadataError(f"{name} is longer than {limit} characters.")
        ensure_not_personal(value, where=name)
    meta = current_request.get()
    return _Entry(
        actor_type=ActorType(actor.type).value,
        actor_id=actor.id or "",
        actor_role=actor.role or "",
        action=AuditAction(action).value,
        target_type=target_type,
        target_id=target_id,
        outcome=Outcome(outcome).value,
        reason=reason,
        metadata=clean_metadata(metadata),
        ip=_normalised_ip(meta.ip) if meta else None,
        user_agent=meta.user_agent[:256] if meta else "",
        request_id=meta.request_id[:64] if meta else "",
    )


def _normalised_ip(raw: str | None) -> str | None:
    """The address as the database will give it back (so the MAC survives a round trip)."""
    if not raw:
        return None
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def _append(*, chain: str, workspace_id: UUID | None, entry: _Entry) -> AuditEvent:
    return _append_many(chain=chain, workspace_id=workspace_id, entries=[entry])[0]


def _append_many(
    *, chain: str, workspace_id: UUID | None, entries: Sequence[_Entry]
) -> list[AuditEvent]:
    key = integrity.current_key()
    occurred_at = timezone.now()
    events: list[AuditEvent] = []
    for entry in entries:
        event = AuditEvent(
            chain=chain,
            workspace_id=workspace_id,
            occurred_at=occurred_at,
            key_id=key.key_id,
            actor_type=entry.actor_type,
            actor_id=entry.actor_id,
            actor_role=entry.actor_role,
            action=entry.action,
            target_type=entry.target_type,
            target_id=entry.target_id,
            outcome=entry.outcome,
            reason=entry.reason,
            ip=entry.ip,
            user_agent=entry.user_agent,
            request_id=entry.request_id,
            metadata=entry.metadata,
        )
        event.entry_mac = integrity.entry_mac(event, key.secret)
        events.append(event)
    # savepoint=False: a failed audit write dooms the caller's whole transaction, so a
    # change can never commit without its event.
    with transaction.atomic(savepoint=False):
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            AuditEvent.objects.bulk_create(events)
        sequencer.sequence_after_commit(chain)
    return events


# --- Retention purge -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainPurge:
    chain: str
    deleted: int
    checkpoint_seq: int | None
    problem: ChainProblem | None = None


@dataclass(slots=True)
class PurgeReport:
    cutoff: datetime
    chains: list[ChainPurge] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return sum(chain.deleted for chain in self.chains)

    @property
    def failed(self) -> list[ChainPurge]:
        return [chain for chain in self.chains if chain.problem is not None]


def audit_purge_expired(now: datetime | None = None, *, batch_size: int = 1000) -> PurgeReport:
    """Remove events older than ``AUDIT_RETENTION_DAYS`` from every chain.

    Per chain: verify the expired prefix, seal a checkpoint at its last event, append an
    ``audit_purged`` receipt to the live chain, then delete the prefix in batches. A
    prefix that fails verification is left in place as evidence. Running it twice, or
    again after a crash half-way, is safe: deletion always finishes up to the newest
    checkpoint and a range is never checkpointed twice.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    report = PurgeReport(cutoff=cutoff)
    for chain in AuditChainHead.objects.order_by("chain").values_list("chain", flat=True):
        report.chains.append(_purge_chain(chain, cutoff=cutoff, now=now, batch_size=batch_size))
    for purged in report.chains:
        if purged.problem is not None:
            logger.error(
                "audit purge skipped a chain that does not verify",
                extra={"chain": purged.chain, "problem": purged.problem.code.value},
            )
    return report


def _purge_chain(chain: str, *, cutoff: datetime, now: datetime, batch_size: int) -> ChainPurge:
    problem = _checkpoint_expired_prefix(chain, cutoff=cutoff, now=now, batch_size=batch_size)
    checkpoint = latest_checkpoint(chain)
    if checkpoint is None:
        return ChainPurge(chain=chain, deleted=0, checkpoint_seq=None, problem=problem)
    deleted = _dangerously_delete_purged_events(
        chain=chain, through_seq=checkpoint.through_seq, batch_size=batch_size
    )
    return ChainPurge(
        chain=chain, deleted=deleted, checkpoint_seq=checkpoint.through_seq, problem=problem
    )


def _expired_through_seq(chain: str, *, after_seq: int, cutoff: datetime) -> int:
    """The last seq of the longest run after ``after_seq`` in which every event expired."""
    events = AuditEvent.objects.filter(chain=chain, seq__gt=after_seq)
    first_young = events.filter(occurred_at__gte=cutoff).aggregate(seq=Min("seq"))["seq"]
    if first_young is not None:
        return int(first_young) - 1
    head = AuditChainHead.objects.get(chain=chain)
    return head.last_seq


def _checkpoint_expired_prefix(
    chain: str, *, cutoff: datetime, now: datetime, batch_size: int
) -> ChainProblem | None:
    previous = latest_checkpoint(chain)
    after_seq = previous.through_seq if previous else 0
    through_seq = _expired_through_seq(chain, after_seq=after_seq, cutoff=cutoff)
    if through_seq <= after_seq:
        return None
    # Verified outside the sequencer's lock: expired rows are no longer appended to, and
    # a long walk must not hold up the linking of this chain.
    segment = verify_segment(
        chain,
        after_seq=after_seq,
        prev_mac=previous.through_mac if previous else GENESIS_MAC,
        through_seq=through_seq,
        batch_size=batch_size,
    )
    if segment.problem is not None:
        return segment.problem
    with transaction.atomic():
        sequencer.lock_chain(chain, wait=True)
        if latest_checkpoint(chain) != previous:
            return None  # a concurrent purge got here first
        _write_checkpoint(
            chain,
            first_seq=after_seq + 1,
            through_seq=through_seq,
            through_mac=segment.last_mac,
            now=now,
        )
    return None


def _write_checkpoint(
    chain: str, *, first_seq: int, through_seq: int, through_mac: str, now: datetime
) -> None:
    """Seal the checkpoint and link its receipt in the caller's transaction (which holds
    the chain's sequencer lock), so a verifier sees both or neither."""
    key = integrity.current_key()
    checkpoint = AuditCheckpoint(
        chain=chain,
        first_seq=first_seq,
        through_seq=through_seq,
        through_mac=through_mac,
        count=through_seq - first_seq + 1,
        purged_at=now,
        key_id=key.key_id,
    )
    checkpoint.mac = integrity.checkpoint_mac(checkpoint, key.secret)
    checkpoint.save(force_insert=True)
    receipt = _entry(
        actor=Actor.system(),
        action=AuditAction.AUDIT_PURGED,
        outcome=Outcome.SUCCESS,
        target=None,
        reason=PURGE_REASON,
        metadata={
            "count": checkpoint.count,
            "first_seq": first_seq,
            "last_seq": through_seq,
            "last_mac": through_mac,
        },
    )
    _append(chain=chain, workspace_id=_live_workspace_id(chain), entry=receipt)
    sequencer.link_pending(chain)


def _live_workspace_id(chain: str) -> UUID | None:
    """The chain's workspace, or None for the platform or a workspace since deleted."""
    if chain == PLATFORM_CHAIN:
        return None
    workspace_id = UUID(chain)
    return workspace_id if Workspace.objects.filter(pk=workspace_id).exists() else None


def _dangerously_delete_purged_events(*, chain: str, through_seq: int, batch_size: int) -> int:
    """The one place audit events are deleted: rows already covered by a checkpoint.

    Small transactions keep each DELETE short; a crash leaves rows that the next run
    removes, and the verifier ignores rows at or below the newest checkpoint meanwhile.
    """
    deleted = 0
    while True:
        with transaction.atomic():
            covered = AuditEvent.objects.filter(chain=chain, seq__lte=through_seq)
            low = covered.order_by("seq").values_list("seq", flat=True).first()
            if low is None:
                return deleted
            batch = covered.filter(seq__lt=low + batch_size)
            # Bypasses AuditEventQuerySet.delete(), which refuses every other caller.
            count, _ = models.QuerySet.delete(batch)
        deleted += count
