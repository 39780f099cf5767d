"""Reads about a user's own sign-in security: two-factor state, sessions, owned workspaces,
and the sign-in locks of the members of those workspaces."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import F, QuerySet

from heroshhi.accounts import lockout, usercrypto
from heroshhi.accounts.models import ApiKey, RecoveryCode, TotpDevice, User, UserSession
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, has_capability
from heroshhi.workspaces.selectors import memberships_of_user

_TOTP_TABLE = "accounts_totpdevice"
_TOTP_COLUMN = "secret_sealed"


def totp_secret_context(user_id: object) -> usercrypto.SecretContext:
    # Bound to the user, not the device row: starting enrolment again keeps the binding.
    return usercrypto.SecretContext(table=_TOTP_TABLE, column=_TOTP_COLUMN, row_id=str(user_id))


def totp_device_of(*, user: User) -> TotpDevice | None:
    return TotpDevice.objects.filter(user=user).first()


def totp_secret(*, device: TotpDevice) -> str:
    context = totp_secret_context(device.user_id)
    return usercrypto.open_sealed(device.secret_sealed, context=context).decode()


def user_has_two_factor(*, user: User) -> bool:
    """Whether the user signs in with a confirmed authenticator app."""
    if not user.is_authenticated:
        return False
    return TotpDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def user_sessions_list(*, user: User) -> QuerySet[UserSession]:
    """The user's signed-in sessions, most recently used first."""
    return UserSession.objects.filter(user=user).order_by("-last_seen_at", "-created_at")


def workspaces_with_security_settings(*, user: User) -> list[Workspace]:
    """Workspaces whose security settings this user may change (owner only)."""
    return [
        membership.workspace
        for membership in memberships_of_user(user=user)
        if has_capability(membership.role, Capability.SECURITY_SETTINGS)
    ]


@dataclass(frozen=True, slots=True)
class LockedMember:
    user: User
    until: datetime


@dataclass(frozen=True, slots=True)
class WorkspaceLocks:
    workspace: Workspace
    members: list[LockedMember]


def members_locked_out(*, workspace: Workspace) -> list[LockedMember]:
    """Members whose sign-in is locked now (account cap, or a pair lock from any network),
    the lock ending soonest first."""
    with workspace_scope(workspace):
        users = [m.user for m in Membership.objects.select_related("user").order_by("created_at")]
    ends = lockout.accounts_locked_until(emails=[user.email for user in users])
    locked = [
        LockedMember(user=user, until=datetime.fromtimestamp(ends[user.email], tz=UTC))
        for user in users
        if user.email in ends
    ]
    return sorted(locked, key=lambda member: member.until)


def workspace_locks(*, workspaces: Iterable[Workspace]) -> list[WorkspaceLocks]:
    """Each workspace with its locked members, for the owner's security page."""
    return [
        WorkspaceLocks(workspace=workspace, members=members_locked_out(workspace=workspace))
        for workspace in workspaces
    ]


def workspace_member(*, workspace: Workspace, user_id: object) -> User | None:
    """The member of ``workspace`` with this user id, or None (no such user, or not one of
    its members)."""
    with workspace_scope(workspace):
        membership = Membership.objects.select_related("user").filter(user_id=user_id).first()
    return None if membership is None else membership.user


def user_by_email(*, email: str) -> User | None:
    """The account an e-mail address names (case-insensitive), or None."""
    cleaned = email.strip()
    if not cleaned:
        return None
    return User.objects.filter(email__iexact=cleaned).first()


def api_keys_of_workspace(*, workspace: Workspace) -> QuerySet[ApiKey]:
    """The workspace's API keys for the settings page: active ones first, newest first,
    with their creators in the same query."""
    return (
        ApiKey.objects.filter(workspace=workspace)
        .select_related("created_by")
        .order_by(F("revoked_at").desc(nulls_first=True), "-created_at")
    )
