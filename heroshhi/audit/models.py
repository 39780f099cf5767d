"""Audit events, kept as one HMAC chain per workspace plus one for the platform.

Writers insert an event *queued*: its content and ``entry_mac`` (the writer's seal over that
content), but no ``seq``, ``prev_mac`` or ``mac``. The sequencer (``heroshhi.audit.sequencer``)
then links queued events into the chain, in commit order: it gives each the next ``seq``,
the MAC of the event before it as ``prev_mac``, and its own ``mac``, so editing, inserting,
deleting or reordering linked rows breaks the chain in a way ``heroshhi.audit.verify`` can
point at (docs/adr/0015-audit-sequencer.md).

Rows are insert-only: the model, its queryset and database triggers refuse every update
except the sequencer's one link of a queued row. Only the retention purge deletes, and only
a verified prefix of a chain, after writing a checkpoint and a receipt.

Why ``chain`` and a nullable ``workspace`` FK: terminating a workspace deletes it, but its
(pseudonymised) audit events must stay until retention ends. The FK therefore uses
``SET_NULL``, which Django performs as an UPDATE of ``workspace_id``. That one column is left
out of the MAC, and the trigger lets it change only to NULL; the MAC covers ``chain`` (the
workspace UUID as text, or ``"platform"``), which never changes.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any, NoReturn

from django.db import models

from heroshhi.audit.actions import AUDIT_ACTION_CHOICES, OUTCOME_CHOICES
from heroshhi.audit.errors import AuditImmutableError
from heroshhi.core.actors import ActorType

PLATFORM_CHAIN = "platform"
# The ``prev_mac`` of the first event of a chain.
GENESIS_MAC = "0" * 64

ACTOR_TYPE_CHOICES: list[tuple[str, str]] = [(t.value, t.value) for t in ActorType]


_RANDOM_BITS = 74  # rand_a (12) and rand_b (62) of a UUIDv7
_last_event_id = (0, 0)  # (unix ms, random part) of the newest id made in this process
_event_id_lock = threading.Lock()


def new_event_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so new rows land at the end of the primary-key index.

    Ids made in one process also always increase (RFC 9562, section 6.2, method 3: within a
    millisecond the random part counts up from the last one), so the sequencer, which links
    the queued events it sees in id order, keeps a writer's events in the order written.
    """
    global _last_event_id
    millis = time.time_ns() // 1_000_000
    random_part = int.from_bytes(os.urandom(10)) >> (80 - _RANDOM_BITS)
    with _event_id_lock:
        last_millis, last_random = _last_event_id
        if millis <= last_millis:
            millis, random_part = last_millis, last_random + 1
            if random_part >> _RANDOM_BITS:  # 2**74 ids in one millisecond: borrow the next
                millis, random_part = millis + 1, 0
        _last_event_id = (millis, random_part)
    rand_a, rand_b = random_part >> 62, random_part & ((1 << 62) - 1)
    value = (millis & ((1 << 48) - 1)) << 80 | 0x7 << 76 | rand_a << 64 | 0x2 << 62 | rand_b
    return uuid.UUID(int=value)


def is_queued_entry(event: AuditEvent) -> bool:
    """Sealed by a writer and not linked yet: the only shape a new row may have."""
    return bool(event.entry_mac) and event.seq is None and not event.prev_mac and not event.mac


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Refuses updates; rows are only ever added, queued, through the audit services.

    The sequencer links rows through a plain ``QuerySet``, the one way past these guards.
    """

    def update(self, **kwargs: Any) -> int:
        # Deleting a workspace detaches its events (on_delete=SET_NULL): the only update
        # allowed, since ``workspace_id`` is outside the MAC.
        if kwargs.keys() == {"workspace"} and kwargs["workspace"] is None:
            return super().update(**kwargs)
        raise AuditImmutableError("Audit events cannot be updated.")

    def delete(self) -> NoReturn:
        raise AuditImmutableError("Audit events are removed only by the retention purge.")

    def bulk_create(  # type: ignore[override]
        self, objs: Iterable[AuditEvent], batch_size: int | None = None
    ) -> list[AuditEvent]:
        # Only the audit services' batch append, which seals every entry before inserting.
        events = list(objs)
        if not events or not all(is_queued_entry(event) for event in events):
            raise AuditImmutableError("Audit events are written only by the audit services.")
        # The stubs lose the model type through super() on a generic queryset.
        return super().bulk_create(events, batch_size=batch_size)  # type: ignore[arg-type,return-value]

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("Audit events cannot be updated.")


AuditEventManager = models.Manager.from_queryset(AuditEventQuerySet)


class AuditEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=new_event_id, editable=False)
    chain = models.CharField(max_length=36)
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    # Empty until the sequencer links the event (seq, prev_mac, mac): a queued event.
    seq = models.PositiveBigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    actor_type = models.CharField(max_length=20, choices=ACTOR_TYPE_CHOICES)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_role = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=64, choices=AUDIT_ACTION_CHOICES)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10, choices=OUTCOME_CHOICES)
    reason = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True, unpack_ipv4=True)
    user_agent = models.CharField(max_length=256, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    prev_mac = models.CharField(max_length=64, blank=True, default="")
    mac = models.CharField(max_length=64, blank=True, default="")
    key_id = models.CharField(max_length=16)
    # The writer's seal over the content; empty on events linked before queueing existed.
    entry_mac = models.CharField(max_length=64, blank=True, default="")

    objects = AuditEventManager()

    class Meta:
        # Reverse relations and SET_NULL go through the base manager; keep it the guarded one.
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_event_chain_seq_uniq"),
        ]
        indexes = [
            # The purge looks for the first event of a chain younger than the cutoff.
            models.Index(fields=["chain", "occurred_at"], name="audit_event_chain_time_idx"),
            # The queue: the sequencer takes a chain's queued events in id order, and the
            # health checks ask for the oldest one. Only queued rows are in these indexes.
            models.Index(
                fields=["chain", "id"],
                name="audit_event_queue_idx",
                condition=models.Q(seq__isnull=True),
            ),
            models.Index(
                fields=["occurred_at"],
                name="audit_event_queue_age_idx",
                condition=models.Q(seq__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{'queued' if self.seq is None else self.seq} {self.action}"

    def save(self, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditImmutableError("Audit events cannot be changed once written.")
        if not is_queued_entry(self):
            raise AuditImmutableError("Audit events are written only by audit_record().")
        kwargs["force_insert"] = True
        super().save(**kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("Audit events are removed only by the retention purge.")


class AuditChainHead(models.Model):
    """The newest linked (seq, mac) of one chain.

    Only the sequencer moves it, in the transaction that links a batch (and the purge, whose
    receipt it links with its checkpoint); writers never touch it. It lets the verifier
    notice deleted tail events, which a walk over the remaining rows alone cannot see.
    """

    chain = models.CharField(max_length=36, unique=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_mac = models.CharField(max_length=64, default=GENESIS_MAC)

    def __str__(self) -> str:
        return f"{self.chain}@{self.last_seq}"


class AuditCheckpoint(models.Model):
    """Where a chain resumes after the retention purge removed its oldest events.

    Events ``first_seq``..``through_seq`` were purged; ``through_mac`` was the MAC of event
    ``through_seq``, so verification continues from here. The row is itself sealed with the
    audit key (``mac``) so it cannot be forged to hide a deletion, and the same range is
    repeated in an ``audit_purged`` receipt appended to the live chain. No personal data, so
    checkpoints are kept for the life of the installation.
    """

    chain = models.CharField(max_length=36)
    first_seq = models.PositiveBigIntegerField()
    through_seq = models.PositiveBigIntegerField()
    through_mac = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField()
    purged_at = models.DateTimeField()
    key_id = models.CharField(max_length=16)
    mac = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["chain", "through_seq"], name="audit_checkpoint_chain_seq_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.chain} purged {self.first_seq}..{self.through_seq}"

    def save(self, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditImmutableError("Audit checkpoints cannot be changed once written.")
        kwargs["force_insert"] = True
        super().save(**kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("Audit checkpoints are kept for good.")
