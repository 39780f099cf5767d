"""Reads about workspaces and memberships.

Memberships are looked up before any workspace is in scope (that lookup is what sets the
scope), so these are the reviewed places that use ``unscoped()``.
"""

from __future__ import annotations

from django.db.models import QuerySet

from heroshhi.accounts.models import User
from heroshhi.workspaces.models import Membership, Workspace


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
        .order_by("workspace__name")
    )


def workspace_by_slug(*, slug: str) -> Workspace | None:
    return Workspace.objects.filter(slug=slug).first()
