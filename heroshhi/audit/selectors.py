"""Reads of the audit log: the viewers' pages (newest first, keyset-paginated by seq) and
the sequencer's queue (events written but not linked into their chain yet)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min
from django.utils import timezone

from heroshhi.audit.models import PLATFORM_CHAIN, AuditEvent
from heroshhi.core.readiness import ReadinessNote
from heroshhi.workspaces.models import Workspace

MAX_PAGE = 200
# Normally the sequencer links an event within a second of its commit; an event queued for
# longer than this means no sequencer is running (health checks and the compliance page warn).
QUEUE_STALE_AFTER = timedelta(seconds=60)


def _page(chain: str, *, before_seq: int | None, limit: int) -> list[AuditEvent]:
    # Linked events only: a queued one joins the log when the sequencer links it.
    events = AuditEvent.objects.filter(chain=chain, seq__isnull=False)
    if before_seq is not None:
        events = events.filter(seq__lt=before_seq)
    limit = max(1, min(limit, MAX_PAGE))
    # (chain, seq) is unique and indexed, so every page is one index range scan.
    return list(events.order_by("-seq")[:limit])


def audit_events_for_workspace(
    workspace: Workspace, *, before_seq: int | None = None, limit: int = 50
) -> list[AuditEvent]:
    """One page of a workspace's events; pass the last seq shown as ``before_seq``."""
    return _page(str(workspace.pk), before_seq=before_seq, limit=limit)


def audit_events_platform(*, before_seq: int | None = None, limit: int = 50) -> list[AuditEvent]:
    """One page of the platform chain (sign-ins, platform admin actions, key rotations)."""
    return _page(PLATFORM_CHAIN, before_seq=before_seq, limit=limit)


# The sequencer's queue -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditQueue:
    """Events written but not linked yet, and when the oldest of them was written."""

    count: int
    oldest_at: datetime | None

    def age_seconds(self, now: datetime | None = None) -> float | None:
        if self.oldest_at is None:
            return None
        return max(0.0, ((now or timezone.now()) - self.oldest_at).total_seconds())

    def is_stale(self, now: datetime | None = None) -> bool:
        age = self.age_seconds(now)
        return age is not None and age > QUEUE_STALE_AFTER.total_seconds()


def audit_queue(chain: str | None = None) -> AuditQueue:
    """The queue of one chain, or of every chain (``None``)."""
    events = AuditEvent.objects.filter(seq__isnull=True)
    if chain is not None:
        events = events.filter(chain=chain)
    totals = events.aggregate(count=Count("id"), oldest=Min("occurred_at"))
    return AuditQueue(count=totals["count"], oldest_at=totals["oldest"])


def audit_queue_for_workspace(workspace: Workspace) -> AuditQueue:
    return audit_queue(str(workspace.pk))


def chains_with_queued_events() -> list[str]:
    queued = AuditEvent.objects.filter(seq__isnull=True)
    return list(queued.order_by("chain").values_list("chain", flat=True).distinct())


def audit_queue_readiness() -> ReadinessNote:
    """For ``/readyz``: the age of the oldest queued event, and a warning once it is stale."""
    queue = audit_queue()
    age = queue.age_seconds()
    return ReadinessNote(
        warning="audit_queue_stale" if queue.is_stale() else None,
        facts={"audit_queue_oldest_seconds": None if age is None else round(age, 1)},
    )
