"""Resolves /w/<slug>/... to the signed-in user's membership and sets the workspace scope."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.selectors import membership_for_slug

WORKSPACE_PATH = re.compile(r"^/w/(?P<slug>[a-z0-9][a-z0-9-]{0,59})/")


class WorkspaceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        match = WORKSPACE_PATH.match(request.path_info)
        if match is None:
            return self.get_response(request)
        # Signed-in non-members get the same 404 as for a workspace that does not exist.
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = membership_for_slug(user=request.user, slug=match["slug"])
        if membership is None:
            raise Http404
        request.membership = membership  # type: ignore[attr-defined]
        request.workspace = membership.workspace  # type: ignore[attr-defined]
        request.actor = Actor.user(request.user.pk, role=membership.role)  # type: ignore[attr-defined]
        with workspace_scope(membership.workspace):
            return self.get_response(request)
