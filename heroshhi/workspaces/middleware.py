"""Resolves /w/<slug>/... to the signed-in user's membership and sets the workspace scope."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import cast

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve

from heroshhi.accounts.models import User
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.platform_admin.selectors import workspace_is_suspended
from heroshhi.workspaces.selectors import membership_for_slug, memberships_of_user

# Any first segment, not just well-formed slugs: a URL pattern with a looser converter
# (``<slug:slug>`` allows capitals and underscores) must never reach its view without a
# membership. A segment that names no workspace of the user is simply 404.
WORKSPACE_PATH = re.compile(r"^/w/(?P<slug>[^/]+)/")


class WorkspaceRequest(HttpRequest):
    """What a view under /w/<slug>/ may rely on; annotate ``request`` with it."""

    membership: Membership
    workspace: Workspace
    actor: Actor


def workspace_suspended_response(request: HttpRequest, membership: Membership) -> HttpResponse:
    """403 with a notice and nothing from inside the workspace.

    It links the user's other workspaces: the home page sends people to their first
    workspace, which may be this one, so a plain "home" link could lead straight back here.
    """
    others = [
        other.workspace
        for other in memberships_of_user(user=cast(User, request.user))
        if other.workspace_id != membership.workspace_id
        and not workspace_is_suspended(other.workspace)
    ]
    context = {"is_owner": membership.role == Role.OWNER, "other_workspaces": others}
    response = render(request, "platform/workspace_suspended.html", context, status=403)
    if request.headers.get("HX-Request"):
        # htmx does not swap error responses; reload so the notice replaces the page.
        response["HX-Refresh"] = "true"
    return response


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = WORKSPACE_PATH.match(request.path_info)
        if match is None:
            return self.get_response(request)
        # Signed-in non-members get the same 404 as for a workspace that does not exist.
        # Platform staff are not members, so they get it too.
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_for_slug(user=request.user, slug=match["slug"])
        if membership is None:
            raise Http404
        # Checked after the membership, so a non-member cannot learn that it is suspended.
        if workspace_is_suspended(membership.workspace):
            return workspace_suspended_response(request, membership)
        request.membership = membership  # type: ignore[attr-defined]
        request.workspace = membership.workspace  # type: ignore[attr-defined]
        request.actor = Actor.user(request.user.pk, role=membership.role)  # type: ignore[attr-defined]
        if _refused_while_terminating(request, membership.workspace):
            return workspace_read_only_response(request, membership)
        with workspace_scope(membership.workspace):
            return self.get_response(request)


# What members may still change while their workspace waits out its termination: exporting
# it, cancelling, and the duties owed to contacts (data-subject requests, incidents,
# opt-outs), which do not pause for a closing account.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_WRITABLE_WHILE_TERMINATING = frozenset(
    {
        "workspaces:export_start",
        "workspaces:terminate",  # answers that the termination is already under way
        "workspaces:terminate_cancel",
        "messaging:lead_optout",
    }
)


def _refused_while_terminating(request: HttpRequest, workspace: Workspace) -> bool:
    if workspace.status != Workspace.Status.TERMINATING or request.method in _SAFE_METHODS:
        return False
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False  # the 404 is the view layer's to give
    return match.namespace != "privacy" and match.view_name not in _WRITABLE_WHILE_TERMINATING


def workspace_read_only_response(request: HttpRequest, membership: Membership) -> HttpResponse:
    """403 for a change to a workspace that is being terminated: it is read-only."""
    context = {"workspace": membership.workspace, "is_owner": membership.role == Role.OWNER}
    response = render(request, "workspaces/read_only.html", context, status=403)
    if request.headers.get("HX-Request"):
        # htmx does not swap error responses; reload, and the page's banner says why.
        response["HX-Refresh"] = "true"
    return response
