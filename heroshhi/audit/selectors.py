"""Reads of the audit log for the viewers: newest first, keyset-paginated by seq."""

from __future__ import annotations

from heroshhi.audit.models import PLATFORM_CHAIN, AuditEvent
from heroshhi.workspaces.models import Workspace

MAX_PAGE = 200


def _page(chain: str, *, before_seq: int | None, limit: int) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(chain=chain)
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
