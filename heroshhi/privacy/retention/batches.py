"""The deletions of the retention rules, one batch per transaction, so a run that stops
anywhere loses nothing; and the counts a dry run reports instead."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.apps import apps
from django.db import models, transaction
from django.db.models import Max

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import PLATFORM_CHAIN, AuditCheckpoint, AuditEvent
from heroshhi.audit.services import AuditRecord, audit_record, audit_record_many
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.messaging.models import Message
from heroshhi.privacy.retention.rules import RULE_INACTIVE, RULE_MESSAGES, RULE_TRASH
from heroshhi.workspaces.models import Workspace


def _cascade_models() -> list[tuple[type[models.Model], str]]:
    """(model, lead field) for every model a lead's deletion removes with it."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for model_field in model._meta.get_fields():
            if (
                isinstance(model_field, models.ForeignKey)
                and model_field.related_model is Lead
                and model_field.remote_field.on_delete is models.CASCADE
            ):
                found.append((model, model_field.attname))
    return found


def cascade_counts(leads: models.QuerySet[Lead]) -> Counter[str]:
    """What deleting ``leads`` would remove, per table (a dry run's answer)."""
    ids = list(leads.values_list("pk", flat=True))
    counts: Counter[str] = Counter()
    if not ids:
        return counts
    counts[Lead._meta.label] = len(ids)
    for model, attname in _cascade_models():
        manager = model._base_manager
        found = manager.filter(**{f"{attname}__in": ids}).count()
        if found:
            counts[model._meta.label] += found
    return counts


@transaction.atomic
def purge_trash_batch(workspace: Workspace, *, cutoff: datetime, batch_size: int) -> Counter[str]:
    with workspace_scope(workspace):
        ids = list(
            Lead.objects.filter(deleted_at__lt=cutoff)
            .order_by("deleted_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return Counter()
        # Everything hanging off the leads goes with them through CASCADE foreign keys.
        _total, per_model = Lead.objects.filter(pk__in=ids).delete()
        deleted = Counter({label: n for label, n in per_model.items() if n})
        audit_record(
            workspace=workspace,
            actor=Actor.system(),
            action=AuditAction.DATA_DELETE,
            reason="retention",
            metadata={"entity": "lead", "rule": RULE_TRASH, "deleted": dict(deleted)},
        )
    return deleted


@transaction.atomic
def delete_messages_batch(
    workspace: Workspace,
    *,
    conversation_ids: list[uuid.UUID],
    cutoff: datetime,
    days: int,
    batch_size: int,
) -> Counter[str]:
    with workspace_scope(workspace):
        ids = list(
            Message.objects.filter(conversation_id__in=conversation_ids, created_at__lt=cutoff)
            .order_by()
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return Counter()
        _total, per_model = Message.objects.filter(pk__in=ids).delete()
        deleted = Counter({label: n for label, n in per_model.items() if n})
        audit_record(
            workspace=workspace,
            actor=Actor.system(),
            action=AuditAction.DATA_DELETE,
            reason="retention",
            metadata={
                "entity": "message",
                "rule": RULE_MESSAGES,
                "older_than_days": days,
                "deleted": dict(deleted),
            },
        )
    return deleted


@transaction.atomic
def trash_inactive_batch(
    workspace: Workspace, *, cutoff: datetime, now: datetime, months: int, batch_size: int
) -> int:
    """Like ``lead_trash`` for a batch: trash time, a timeline entry and an audit event per
    lead, by the system actor (no role check: the owner's policy is the authority)."""
    actor = Actor.system()
    with workspace_scope(workspace):
        ids = list(
            Lead.objects.filter(deleted_at__isnull=True, last_activity_at__lt=cutoff)
            .order_by("last_activity_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        # The guard on deleted_at keeps a lead trashed meanwhile from being counted twice.
        moved_ids = [
            pk
            for pk in ids
            if Lead.objects.filter(pk=pk, deleted_at__isnull=True).update(deleted_at=now)
        ]
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(
                    workspace=workspace,
                    lead_id=pk,
                    kind=TimelineEvent.Kind.DELETED,
                    actor_type=actor.type.value,
                    actor_id="",
                    data={"reason": "retention", "inactive_months": months},
                )
                for pk in moved_ids
            ]
        )
        audit_record_many(
            workspace=workspace,
            actor=actor,
            records=[
                AuditRecord(
                    action=AuditAction.LEAD_DELETED,
                    target=("lead", pk),
                    reason="retention",
                    metadata={"mode": "trash", "rule": RULE_INACTIVE, "inactive_months": months},
                )
                for pk in moved_ids
            ],
        )
    return len(moved_ids)


def chain_workspace(chain: str) -> uuid.UUID | None:
    """The live workspace id of an audit chain, or None (platform, or deleted)."""
    if chain == PLATFORM_CHAIN:
        return None
    return Workspace.objects.filter(pk=uuid.UUID(chain)).values_list("pk", flat=True).first()


def expired_audit_events(cutoff: datetime) -> Iterable[tuple[str, int]]:
    """Per chain, the events a purge would delete now (beyond the newest checkpoint)."""
    checkpoints = dict(
        AuditCheckpoint.objects.values("chain")
        .annotate(through=Max("through_seq"))
        .values_list("chain", "through")
    )
    rows = (
        AuditEvent.objects.filter(occurred_at__lt=cutoff)
        .values_list("chain", "seq")
        .order_by("chain", "seq")
    )
    counts: Counter[str] = Counter()
    for chain, seq in rows.iterator():
        if seq is not None and seq > (checkpoints.get(chain) or 0):  # queued: not purged
            counts[chain] += 1
    return sorted(counts.items())
