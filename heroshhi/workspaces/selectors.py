"""Reads about workspaces, memberships and invitations.

Memberships are looked up before any workspace is in scope (that lookup is what sets the
scope), and an invitation link names no workspace until its token is matched, so these
are the reviewed places that use ``unscoped()``. Everything else reads through the scoped
managers, inside the scope the middleware or the API key set.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone
from django.utils.text import slugify

from heroshhi.accounts.models import User
from heroshhi.workspaces.models import Invitation, Membership, Workspace
from heroshhi.workspaces.permissions import Role

# The shape of every token we issue (secrets.token_urlsafe(32) gives 43 characters);
# anything else is not looked up at all.
INVITATION_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
SLUG_BASE_MAX = 50


def membership_for_slug(*, user: User, slug: str) -> Membership | None:
    """The user's membership in the workspace with this slug, or None (not a member)."""
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.unscoped()
        .select_related("workspace")
        .filter(user=user, workspace__slug=slug)
        .first()
    )


def memberships_of_user(*, user: User) -> QuerySet[Membership]:
    """Every workspace the user belongs to, for the switcher."""
    return (
        Membership.objects.unscoped()
        .select_related("workspace")
        .filter(user=user)
        .order_by("workspace__name", "workspace__slug")
    )


def workspaces_of_user(*, user: User | AnonymousUser) -> list[Workspace]:
    """The user's workspaces in switcher order; empty for anonymous visitors."""
    if not isinstance(user, User):
        return []
    return [membership.workspace for membership in memberships_of_user(user=user)]


def first_workspace_of(*, user: User | AnonymousUser) -> Workspace | None:
    """Where a signed-in user lands: the first workspace of the switcher."""
    if not isinstance(user, User):
        return None
    membership = memberships_of_user(user=user).first()
    return None if membership is None else membership.workspace


def user_exists_with_email(*, email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()


def workspace_by_slug(*, slug: str) -> Workspace | None:
    return Workspace.objects.filter(slug=slug).first()


def slug_base(name: str) -> str:
    """A URL-safe base for a workspace named ``name``: lower-case letters, digits, dashes."""
    base = re.sub(r"[-_]+", "-", slugify(name))[:SLUG_BASE_MAX].strip("-")
    return base or "workspace"


def free_workspace_slug(*, name: str) -> str:
    """``slug_base(name)``, or the same with the first free ``-2``, ``-3``... suffix."""
    base = slug_base(name)
    taken = set(Workspace.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, suffix = base, 1
    while slug in taken:
        suffix += 1
        slug = f"{base}-{suffix}"
    return slug


_ROLE_ORDER = Case(
    When(role=Role.OWNER.value, then=Value(0)),
    When(role=Role.MANAGER.value, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def team_members(*, workspace: Workspace) -> QuerySet[Membership]:
    """The workspace's members, owners first, then by name. Needs the workspace in scope."""
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .annotate(role_order=_ROLE_ORDER)
        .order_by("role_order", "user__full_name", "user__email")
    )


def invitations_open(*, workspace: Workspace) -> QuerySet[Invitation]:
    """Invitations neither accepted nor revoked (expired ones included, so they can be
    tidied away), newest first. Needs the workspace in scope."""
    return (
        Invitation.objects.filter(
            workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True
        )
        .select_related("invited_by")
        .order_by("-created_at")
    )


def invitation_token_hash(token: str) -> str:
    # The token carries 256 random bits, so a plain hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation this link token belongs to, in any state, or None.

    The reviewed unscoped lookup: the token is what tells us the workspace.
    """
    if not INVITATION_TOKEN.fullmatch(token):
        return None
    return (
        Invitation.objects.unscoped()
        .select_related("workspace", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
    )


@dataclass(frozen=True, slots=True)
class WorkspaceOverview:
    members: int
    pending_invitations: int


def workspace_overview(*, workspace: Workspace) -> WorkspaceOverview:
    """Counts for the workspace home page. Needs the workspace in scope."""
    return WorkspaceOverview(
        members=Membership.objects.filter(workspace=workspace).count(),
        pending_invitations=invitations_open(workspace=workspace)
        .filter(expires_at__gt=timezone.now())
        .count(),
    )
