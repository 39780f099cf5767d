"""A person's rights over their own account (P04): a copy of their data, and deletion.

The copy (``user_data_export``) is JSON: profile, memberships, sessions, the metadata of
API keys they created (never a secret or its hash), and the audit events they caused or
that concern their account. It is streamed, so a long audit history costs no memory.

Deletion (``user_delete``; the view re-authenticates first) removes the account row itself
rather than anonymising it: every reference to a user is either ``CASCADE`` (memberships,
sessions, two-factor) or ``SET_NULL`` (messages sent, calls logged, keys created,
invitations sent), and the audit events name people by an opaque id, which then points at
nobody (pseudonymised). In each workspace their leads go back to the unassigned pool and
the removal is audited there; every session ends; ``user_deleted`` goes on the platform
chain. It is refused while they are the only owner of a workspace that has other members
or holds data (leads, a WhatsApp number): ownership must be handed over, or the workspace
terminated, first. A workspace they own alone that holds nothing is put into termination
with the account, so no ownerless workspace is left behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from heroshhi.accounts.models import ApiKey, User, UserSession
from heroshhi.accounts.selectors import recovery_codes_left, totp_device_of
from heroshhi.accounts.services import user_sessions_end
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.selectors import memberships_of_user

EXPORT_FORMAT = 1
AUDIT_CHUNK = 500
# Workspaces in these states are being deleted anyway; leaving them blocks nothing.
_ENDING = (Workspace.Status.TERMINATING, Workspace.Status.TERMINATED)


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


# --- The copy -----------------------------------------------------------------------------


def _profile(user: User) -> dict[str, Any]:
    device = totp_device_of(user=user)
    return {
        "id": str(user.pk),
        "email": user.email,
        "full_name": user.full_name,
        "date_joined": _time(user.date_joined),
        "last_login": _time(user.last_login),
        "is_active": user.is_active,
        "is_platform_staff": user.is_staff,
        "two_factor": {
            "enabled": bool(device and device.confirmed),
            "enabled_at": _time(device.confirmed_at) if device else None,
            "recovery_codes_left": recovery_codes_left(user=user),
        },
    }


def _memberships(user: User) -> list[dict[str, Any]]:
    return [
        {
            "workspace_id": str(m.workspace_id),
            "workspace_name": m.workspace.name,
            "workspace_slug": m.workspace.slug,
            "role": m.role,
            "joined_at": _time(m.created_at),
        }
        for m in memberships_of_user(user=user)
    ]


def _sessions(user: User) -> list[dict[str, Any]]:
    # The session key is a credential: never exported.
    return [
        {
            "signed_in_at": _time(s.created_at),
            "last_seen_at": _time(s.last_seen_at),
            "ip": s.ip,
            "user_agent": s.user_agent,
        }
        for s in UserSession.objects.filter(user=user).order_by("created_at")
    ]


def _api_keys(user: User) -> list[dict[str, Any]]:
    # The keys this person created, in any workspace: the reviewed bypass of the scope,
    # narrowed to their own rows. Metadata only; the secret's hash stays behind.
    keys = ApiKey.objects.unscoped().filter(created_by=user).order_by("created_at")
    return [
        {
            "id": str(k.pk),
            "workspace_id": str(k.workspace_id),
            "name": k.name,
            "prefix": k.prefix,
            "role": k.role,
            "created_at": _time(k.created_at),
            "last_used_at": _time(k.last_used_at),
            "revoked_at": _time(k.revoked_at),
        }
        for k in keys
    ]


def _own_events(user: User) -> Any:
    uid = str(user.pk)
    return AuditEvent.objects.filter(
        Q(actor_type="user", actor_id=uid) | Q(target_type="user", target_id=uid)
    ).order_by("occurred_at", "pk")


def _event(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.pk),
        "chain": event.chain,
        "occurred_at": _time(event.occurred_at),
        "action": event.action,
        "outcome": event.outcome,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "reason": event.reason,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "metadata": event.metadata,
    }


@transaction.atomic
def user_data_export_record(*, user: User) -> None:
    """Audit that the person downloaded their own data (before it is streamed)."""
    audit_record(
        workspace=None,
        actor=Actor.user(user.pk),
        action=AuditAction.DATA_EXPORT,
        target=("user", str(user.pk)),
        metadata={"scope": "own_account"},
    )


def user_data_export(*, user: User) -> Iterator[str]:
    """The person's data as one JSON document, in pieces (audit events streamed last)."""
    head = {
        "format": EXPORT_FORMAT,
        "generated_at": _time(timezone.now()),
        "profile": _profile(user),
        "memberships": _memberships(user),
        "sessions": _sessions(user),
        "api_keys_created": _api_keys(user),
    }
    opening = json.dumps(head, ensure_ascii=False, indent=1)
    yield opening[:-1].rstrip() + ',\n "audit_events": ['
    separator = "\n  "
    for event in _own_events(user).iterator(chunk_size=AUDIT_CHUNK):
        yield separator + json.dumps(_event(event), ensure_ascii=False, sort_keys=True)
        separator = ",\n  "
    yield "\n ]\n}\n"


# --- Deletion -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Blocker:
    """A workspace the person must deal with before their account can go."""

    workspace: Workspace
    reason: str  # "other_members", "holds_data" or "suspended"


class AccountDeletionBlocked(Exception):
    code: ClassVar[str] = "sole_owner"
    message: ClassVar[Promise] = _(
        "You are the only owner of a workspace that has other members or data. Make someone "
        "else an owner, or terminate the workspace, before deleting your account."
    )

    def __init__(self, blockers: list[Blocker]) -> None:
        super().__init__(str(self.message))
        self.blockers = blockers


def _holds_data(workspace: Workspace) -> bool:
    from heroshhi.leads.models import Lead
    from heroshhi.messaging.models import Channel

    with workspace_scope(workspace):
        return Lead.objects.exists() or Channel.objects.filter(deleted_at__isnull=True).exists()


def _sole_ownership(user: User) -> list[tuple[Membership, str | None]]:
    """Each workspace the person owns alone (and that is not being deleted already), with
    what blocks leaving it (``other_members``, ``holds_data``, ``suspended``) or None
    (an empty active workspace, terminated with the account)."""
    found: list[tuple[Membership, str | None]] = []
    for membership in memberships_of_user(user=user).filter(role=Role.OWNER.value):
        workspace = membership.workspace
        if workspace.status in _ENDING:
            continue
        with workspace_scope(workspace):
            members = Membership.objects.exclude(pk=membership.pk)
            if members.filter(role=Role.OWNER.value).exists():
                continue
            others = members.exists()
        if others:
            found.append((membership, "other_members"))
        elif _holds_data(workspace):
            found.append((membership, "holds_data"))
        elif workspace.status != Workspace.Status.ACTIVE:
            # Suspended by the platform: it cannot be terminated from here.
            found.append((membership, "suspended"))
        else:
            found.append((membership, None))
    return found


def account_deletion_blockers(*, user: User) -> list[Blocker]:
    return [
        Blocker(workspace=m.workspace, reason=reason)
        for m, reason in _sole_ownership(user)
        if reason is not None
    ]


@dataclass(frozen=True, slots=True)
class AccountDeleted:
    memberships_removed: int
    workspaces_terminated: int
    sessions_ended: int


@transaction.atomic
def user_delete(*, user: User) -> AccountDeleted:
    """Delete the person's account (they re-authenticated). Raises
    ``AccountDeletionBlocked`` while a workspace depends on them."""
    from heroshhi.workspaces.services import member_leads_hand_back
    from heroshhi.workspaces.termination import workspace_termination_request

    # Locked, so the account cannot be deleted twice at once or sign in meanwhile.
    user = User.objects.select_for_update().get(pk=user.pk)
    sole = _sole_ownership(user)
    blockers = [Blocker(m.workspace, reason) for m, reason in sole if reason is not None]
    if blockers:
        raise AccountDeletionBlocked(blockers)
    terminated = 0
    for membership, _reason in sole:
        owner = Actor.user(user.pk, role=Role.OWNER)
        workspace_termination_request(workspace=membership.workspace, actor=owner)
        terminated += 1
    memberships = list(memberships_of_user(user=user))
    for membership in memberships:
        workspace = membership.workspace
        actor = Actor.user(user.pk, role=membership.role)
        with workspace_scope(workspace):
            handed_back = member_leads_hand_back(
                workspace=workspace, actor=actor, member=membership, reassign_to=None
            )
            membership_id, role = membership.pk, membership.role
            membership.delete()
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditAction.MEMBER_REMOVED,
                target=("membership", str(membership_id)),
                reason="account_deleted",
                metadata={
                    "user_id": str(user.pk),
                    "role": role,
                    "leads_handed_back": handed_back,
                },
            )
    sessions_ended = user_sessions_end(user=user)
    audit_record(
        workspace=None,
        actor=Actor.user(user.pk),
        action=AuditAction.USER_DELETED,
        target=("user", str(user.pk)),
        metadata={
            "memberships_removed": len(memberships),
            "workspaces_terminated": terminated,
            "sessions_ended": sessions_ended,
        },
    )
    user.delete()
    return AccountDeleted(
        memberships_removed=len(memberships),
        workspaces_terminated=terminated,
        sessions_ended=sessions_ended,
    )
