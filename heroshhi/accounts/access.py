"""Permissioned fetch by id for account objects that belong to a workspace: the capability
is checked first, then the row is looked up in the current workspace scope, with the same
404 for "missing" and "someone else's"."""

from __future__ import annotations

from heroshhi.accounts.models import ApiKey
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import get_in_scope_or_404
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.permissions import Capability


def access_api_key(*, actor: Actor, uid: object, perm: Capability) -> ApiKey:
    require_actor_capability(actor, perm)
    return get_in_scope_or_404(ApiKey.objects.select_related("created_by"), uid)
