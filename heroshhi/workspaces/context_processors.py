"""Template context for the signed-in shell."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from heroshhi.workspaces.permissions import MATRIX, Role
from heroshhi.workspaces.selectors import workspaces_of_user


def workspaces(request: HttpRequest) -> dict[str, object]:
    """``workspaces``: the signed-in user's workspaces, for the switcher in base.html.

    Lazy, so pages that never show the switcher (error pages, public pages, JSON) run no
    query for it.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"workspaces": [], "can": frozenset()}
    return {
        "workspaces": SimpleLazyObject(lambda: workspaces_of_user(user=user)),
        "can": _capabilities(request),
    }


def _capabilities(request: HttpRequest) -> frozenset[str]:
    """``can``: the capability names of the member's role in the current workspace, so
    templates hide what the server would refuse anyway (``{% if "team.view" in can %}``)."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return frozenset()
    return frozenset(capability.value for capability in MATRIX[Role(membership.role)])
