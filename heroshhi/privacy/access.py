"""Fetch a privacy request or a request's subject by id: the same 404 for missing and
foreign, PermissionDenied for roles that do not handle privacy requests."""

from __future__ import annotations

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.selectors import Viewer, visible_leads
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def access_privacy_request(*, workspace: Workspace, actor_role: str, uid: object) -> PrivacyRequest:
    require_capability(actor_role, Capability.PRIVACY_REQUESTS_MANAGE)
    with workspace_scope(workspace):
        return get_in_scope_or_404(
            PrivacyRequest.objects.select_related("lead", "handler__user"), uid
        )


def access_subject(*, workspace: Workspace, actor_role: str, uid: object) -> Lead:
    """A lead as the subject of a privacy action: live or in the trash (a person's right to
    erasure does not wait for the trash to empty)."""
    require_capability(actor_role, Capability.PRIVACY_REQUESTS_MANAGE)
    viewer = Viewer(role=actor_role, member_id=None)
    with workspace_scope(workspace):
        return get_in_scope_or_404(visible_leads(viewer=viewer).select_related("stage"), uid)
