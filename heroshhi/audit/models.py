"""Audit events, kept as one HMAC chain per workspace plus one for the platform.

Each event carries ``prev_mac`` (the MAC of the event before it in the same chain) and its
own ``mac``, so editing, inserting, deleting or reordering rows breaks the chain in a way
``heroshhi.audit.verify`` can point at. Rows are insert-only: the model, its queryset and a
database trigger all refuse updates. Only the retention purge deletes, and only a verified
prefix of a chain, after writing a checkpoint and a receipt.

Why ``chain`` and a nullable ``workspace`` FK: terminating a workspace deletes it, but its
(pseudonymised) audit events must stay until retention ends. The FK therefore uses
``SET_NULL``, which Django performs as an UPDATE of ``workspace_id``. That one column is left
out of the MAC, and the trigger lets it change only to NULL; the MAC covers ``chain`` (the
workspace UUID as text, or ``"platform"``), which never changes.
"""

from __future__ import annotations

import os
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


def new_event_id() -> uuid.UUID:
    """A UUIDv7: time-ordered, so new rows land at the end of the primary-key index."""
    millis = time.time_ns() // 1_000_000
    value = (millis & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10))
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Refuses updates; rows are only ever added, sealed, through the audit services."""

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
        # Only the audit services' batch append, which seals every event before inserting.
        events = list(objs)
        if not events or any(not event.mac for event in events):
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
    seq = models.PositiveBigIntegerField()
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
    prev_mac = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)
    key_id = models.CharField(max_length=16)

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
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.action}"

    def save(self, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditImmutableError("Audit events cannot be changed once written.")
        if not self.mac:
            raise AuditImmutableError("Audit events are written only by audit_record().")
        kwargs["force_insert"] = True
        super().save(**kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditImmutableError("Audit events are removed only by the retention purge.")


class AuditChainHead(models.Model):
    """The newest (seq, mac) of one chain.

    Appends lock this row with SELECT ... FOR UPDATE, so writers to the same chain queue up
    while other chains proceed in parallel. It also lets the verifier notice deleted tail
    events, which a walk over the remaining rows alone cannot see.
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
