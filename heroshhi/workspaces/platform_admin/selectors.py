"""Reads for the platform admin console, and the "may this workspace act?" checks.

Everything here answers with counts, codes and ids: the console shows the state of a
business account, never what is inside it (no lead, message or note content, no member
names or e-mail addresses). Counts across workspaces are the reviewed ``unscoped()`` reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from heroshhi.accounts.models import ApiKey
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import PLATFORM_CHAIN, AuditEvent
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

WORKSPACE_PAGE = 25
RECENT_EVENTS = 20
SEARCH_MAX_LENGTH = 100

# --- May the workspace act? -------------------------------------------------------------


def workspace_is_suspended(workspace: Workspace) -> bool:
    """Members are shown the suspended page and the workspace's API keys are refused."""
    return workspace.status == Workspace.Status.SUSPENDED


def workspace_is_active(workspace: Workspace) -> bool:
    """Whether the workspace may act on the outside world.

    Every send path (replies, templates, campaigns, automations, outbound webhooks) calls
    this in the same service call that sends: suspended and terminating workspaces cannot
    send. Their inbound webhooks are still verified and stored, so nothing a contact sends
    (an opt-out above all) is lost while the account is on hold.
    """
    return workspace.status == Workspace.Status.ACTIVE


# --- Usage ----------------------------------------------------------------------------------

CountFor = Callable[[Sequence[uuid.UUID]], Mapping[uuid.UUID, int]]


@dataclass(frozen=True, slots=True)
class UsageCounter:
    """One usage figure shown per workspace.

    ``count`` answers for a whole page of workspaces in one query and returns numbers only,
    never rows; workspaces it leaves out count as 0.
    """

    label: str | Promise
    count: CountFor


def _count_by_workspace(rows: QuerySet[Any]) -> dict[uuid.UUID, int]:
    grouped = rows.order_by().values("workspace_id").annotate(n=Count("pk"))
    return {row["workspace_id"]: row["n"] for row in grouped}


def _members(workspace_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    return _count_by_workspace(Membership.objects.unscoped().filter(workspace_id__in=workspace_ids))


def _active_api_keys(workspace_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    keys = ApiKey.objects.unscoped().filter(workspace_id__in=workspace_ids, revoked_at__isnull=True)
    return _count_by_workspace(keys)


# New counters plug in here (leads, messages this month, ...): one entry, one query.
USAGE_COUNTERS: dict[str, UsageCounter] = {
    "members": UsageCounter(_("Members"), _members),
    "api_keys": UsageCounter(_("Active API keys"), _active_api_keys),
}


def workspace_usage(workspace_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, int]]:
    """``{workspace_id: {counter key: value}}`` for every id, one query per counter."""
    usage = {wid: dict.fromkeys(USAGE_COUNTERS, 0) for wid in workspace_ids}
    if not workspace_ids:
        return usage
    for key, counter in USAGE_COUNTERS.items():
        for wid, value in counter.count(workspace_ids).items():
            if wid in usage:
                usage[wid][key] = value
    return usage


@dataclass(frozen=True, slots=True)
class WorkspaceSummary:
    workspace: Workspace
    usage: dict[str, int]

    def usage_items(self) -> list[tuple[str | Promise, int]]:
        """(label, value) in counter order, for templates."""
        return [(c.label, self.usage.get(key, 0)) for key, c in USAGE_COUNTERS.items()]


def usage_labels() -> list[str | Promise]:
    return [counter.label for counter in USAGE_COUNTERS.values()]


# --- Workspace list -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkspacePage:
    rows: list[WorkspaceSummary]
    # The last workspace's id; pass it back as ``after`` for the next page.
    next_after: uuid.UUID | None


def _parse_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def platform_workspaces(
    *,
    status: str = "",
    search: str = "",
    after: object = None,
    limit: int | None = None,
) -> WorkspacePage:
    """Newest workspaces first, keyset-paginated on (created_at, id).

    ``search`` matches the workspace name or slug only: nothing a workspace holds about
    people is searchable from the console. An unknown ``after`` starts from the top.
    """
    workspaces = Workspace.objects.all()
    if status in Workspace.Status.values:
        workspaces = workspaces.filter(status=status)
    search = search.strip()[:SEARCH_MAX_LENGTH]
    if search:
        workspaces = workspaces.filter(Q(name__icontains=search) | Q(slug__icontains=search))
    cursor_id = _parse_uuid(after) if after else None
    cursor = (
        Workspace.objects.filter(pk=cursor_id).values("created_at", "pk").first()
        if cursor_id is not None
        else None
    )
    if cursor is not None:
        workspaces = workspaces.filter(
            Q(created_at__lt=cursor["created_at"])
            | Q(created_at=cursor["created_at"], pk__lt=cursor["pk"])
        )
    limit = max(1, limit or WORKSPACE_PAGE)
    page = list(workspaces.order_by("-created_at", "-pk")[: limit + 1])
    has_more = len(page) > limit
    page = page[:limit]
    usage = workspace_usage([w.pk for w in page])
    rows = [WorkspaceSummary(workspace=w, usage=usage[w.pk]) for w in page]
    return WorkspacePage(rows=rows, next_after=page[-1].pk if has_more else None)


def workspace_status_counts() -> dict[str, int]:
    """How many workspaces are in each status (every status listed, zero included)."""
    counts = dict.fromkeys(Workspace.Status.values, 0)
    for row in Workspace.objects.order_by().values("status").annotate(n=Count("pk")):
        counts[row["status"]] = row["n"]
    return counts


# --- One workspace ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkspaceFacts:
    summary: WorkspaceSummary
    # (role, count) for every role, in the matrix's order. Counts only, never who.
    members_by_role: list[tuple[str, int]]
    recent_events: list[AuditEvent] = field(default_factory=list)
    # The newest suspend/reactivate event, which says why the status is what it is.
    last_status_change: AuditEvent | None = None

    @property
    def workspace(self) -> Workspace:
        return self.summary.workspace


def platform_workspace(workspace_id: object) -> Workspace | None:
    """The workspace with this public id, or None (the view answers 404)."""
    uid = _parse_uuid(workspace_id)
    return None if uid is None else Workspace.objects.filter(pk=uid).first()


def members_by_role(workspace: Workspace) -> list[tuple[str, int]]:
    counts = dict.fromkeys([r.value for r in Role], 0)
    rows = (
        Membership.objects.unscoped()
        .filter(workspace=workspace)
        .order_by()
        .values("role")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[row["role"]] = row["n"]
    return list(counts.items())


def platform_events_about_workspace(
    workspace: Workspace, *, limit: int = RECENT_EVENTS
) -> list[AuditEvent]:
    """Newest platform-chain events whose target is this workspace.

    The workspace's own chain (what its people did) is the owner's to read, not the
    operator's; only what the platform did to the account is shown.
    """
    events = AuditEvent.objects.filter(
        chain=PLATFORM_CHAIN, target_type="workspace", target_id=str(workspace.pk)
    )
    return list(events.order_by("-seq")[: max(1, limit)])


STATUS_ACTIONS = (AuditAction.WORKSPACE_SUSPENDED, AuditAction.WORKSPACE_REACTIVATED)


def last_status_change(workspace: Workspace) -> AuditEvent | None:
    return (
        AuditEvent.objects.filter(
            chain=PLATFORM_CHAIN,
            target_type="workspace",
            target_id=str(workspace.pk),
            action__in=[a.value for a in STATUS_ACTIONS],
        )
        .order_by("-seq")
        .first()
    )


def platform_workspace_facts(workspace: Workspace) -> WorkspaceFacts:
    usage = workspace_usage([workspace.pk])[workspace.pk]
    return WorkspaceFacts(
        summary=WorkspaceSummary(workspace=workspace, usage=usage),
        members_by_role=members_by_role(workspace),
        recent_events=platform_events_about_workspace(workspace),
        last_status_change=last_status_change(workspace),
    )


def workspace_ids_among(chains: Sequence[str]) -> set[str]:
    """Which of these audit chain names are live workspaces (for linking them)."""
    ids = [uid for chain in chains if (uid := _parse_uuid(chain)) is not None]
    return {str(pk) for pk in Workspace.objects.filter(pk__in=ids).values_list("pk", flat=True)}
