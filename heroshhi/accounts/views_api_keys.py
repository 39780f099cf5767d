"""The API keys page at /w/<slug>/settings/api-keys/: list, create, revoke.

WorkspaceMiddleware has already turned the slug into ``request.membership`` (non-members
get 404 before these views run); the views check ``api_keys.manage`` (owner, manager) and
call the services, which check it again.

A new key's secret exists in one place only: the body of the POST response that created
it. It never goes into a redirect, a URL, the messages framework or the session, and the
response is marked ``no-store``, so the browser does not keep it either.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from heroshhi.accounts.access import access_api_key
from heroshhi.accounts.forms import ROLE_NOT_GRANTABLE, ApiKeyCreateForm
from heroshhi.accounts.models import ApiKey
from heroshhi.accounts.selectors import api_keys_of_workspace
from heroshhi.accounts.services import IssuedApiKey, api_key_create, api_key_revoke
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.permissions import GRANTABLE_ROLES, Capability, Role
from heroshhi.workspaces.views import WorkspaceRequest

TEMPLATE = "accounts/api_keys.html"


def _grantable(request: WorkspaceRequest) -> frozenset[Role]:
    return GRANTABLE_ROLES[Role(request.membership.role)]


def _page(
    request: WorkspaceRequest,
    *,
    form: ApiKeyCreateForm | None = None,
    issued: IssuedApiKey | None = None,
) -> HttpResponse:
    context = {
        "keys": list(api_keys_of_workspace(workspace=request.workspace)),
        "form": form or ApiKeyCreateForm(grantable=_grantable(request)),
        "issued": issued,
    }
    return render(request, TEMPLATE, context)


@require_GET
def api_keys(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.API_KEYS_MANAGE)
    return _page(request)


@never_cache
@require_POST
def api_key_create_view(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.API_KEYS_MANAGE)
    form = ApiKeyCreateForm(request.POST, grantable=_grantable(request))
    if not form.is_valid():
        return _page(request, form=form)
    try:
        issued = api_key_create(
            workspace=request.workspace,
            actor=request.actor,
            created_by=request.user,
            name=form.cleaned_data["name"],
            role=Role(form.cleaned_data["role"]),
        )
    except PermissionDenied:
        # The form offers only grantable roles; the service is the rule, so say it here too.
        form.add_error("role", ROLE_NOT_GRANTABLE)
        return _page(request, form=form)
    # Rendered straight into this response: the one and only time the secret is shown.
    return _page(request, issued=issued)


def _key_row(request: WorkspaceRequest, key: ApiKey) -> HttpResponse:
    return render(request, f"{TEMPLATE}#key-row", {"key": key})


@require_POST
def api_key_revoke_view(request: WorkspaceRequest, slug: str, key_id: str) -> HttpResponse:
    key = access_api_key(actor=request.actor, uid=key_id, perm=Capability.API_KEYS_MANAGE)
    api_key_revoke(workspace=request.workspace, actor=request.actor, key=key)
    if request.htmx:
        # The row comes back marked revoked, in place.
        return _key_row(request, key)
    messages.success(
        request,
        _("Key %(name)s revoked. Requests using it are refused from now on.") % {"name": key.name},
    )
    return redirect("api_keys:list", slug=slug)
