"""Permissioned fetch by id: the capability is checked first, then the row is looked up in
the current workspace scope, with the same 404 for "missing" and "someone else's"."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import get_in_scope_or_404
from heroshhi.workspaces.models import Invitation, Membership
from heroshhi.workspaces.permissions import (
    Capability,
    Role,
    can_grant,
    has_capability,
    require_capability,
)


def require_actor_capability(actor: Actor, capability: Capability) -> Role:
    """The actor's role when it holds ``capability``; ``PermissionDenied`` otherwise.

    Actors without a workspace role (system jobs, anonymous visitors) hold none.
    """
    if actor.role is None:
        raise PermissionDenied(capability.value)
    require_capability(actor.role, capability)
    return Role(actor.role)


def may_invite(role: Role | str, target: Role | str) -> bool:
    """Owners invite any role, managers sales only: the capability for the target role
    and ``can_grant`` must both agree."""
    needed = (
        Capability.TEAM_INVITE_SALES
        if Role(target) == Role.SALES
        else Capability.TEAM_INVITE_ANY_ROLE
    )
    return has_capability(role, needed) and can_grant(role, target)


def invitable_roles(role: Role | str) -> frozenset[Role]:
    return frozenset(target for target in Role if may_invite(role, target))


def may_revoke(role: Role | str, target: Role | str) -> bool:
    """Whoever could have sent an invitation for ``target`` may withdraw it."""
    return has_capability(role, Capability.TEAM_INVITE_SALES) and can_grant(role, target)


def access_membership(*, actor: Actor, uid: object, perm: Capability) -> Membership:
    require_actor_capability(actor, perm)
    return get_in_scope_or_404(Membership.objects.select_related("user"), uid)


def access_invitation(*, actor: Actor, uid: object, perm: Capability) -> Invitation:
    require_actor_capability(actor, perm)
    return get_in_scope_or_404(Invitation.objects.all(), uid)
