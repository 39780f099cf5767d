"""The one permission matrix. Every view, API endpoint and service asks it.

PRODUCT.md's role table is the specification; tests/permissions check every cell of it.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied


class Role(StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    SALES = "sales"


class Capability(StrEnum):
    # Team and workspace administration
    TEAM_VIEW = "team.view"
    TEAM_INVITE_SALES = "team.invite_sales"
    TEAM_INVITE_ANY_ROLE = "team.invite_any_role"
    TEAM_CHANGE_ROLE = "team.change_role"
    TEAM_REMOVE_MEMBER = "team.remove_member"
    BILLING_MANAGE = "billing.manage"
    CHANNELS_MANAGE = "channels.manage"
    INTEGRATIONS_MANAGE = "integrations.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    SECURITY_SETTINGS = "security.settings"
    RETENTION_MANAGE = "retention.manage"
    WORKSPACE_EXPORT = "workspace.export"
    WORKSPACE_TERMINATE = "workspace.terminate"
    AUDIT_VIEW = "audit.view"
    # Leads and conversations
    LEADS_VIEW_ALL = "leads.view_all"
    LEADS_VIEW_ASSIGNED = "leads.view_assigned"
    LEADS_CREATE = "leads.create"
    LEADS_EDIT = "leads.edit"
    LEADS_ASSIGN = "leads.assign"
    LEADS_DELETE = "leads.delete"
    LEADS_BULK_DELETE = "leads.bulk_delete"
    LEADS_DELETE_NOW = "leads.delete_now"
    LEADS_IMPORT = "leads.import"
    LEADS_EXPORT = "leads.export"
    PIPELINE_CONFIGURE = "pipeline.configure"
    NOTES_WRITE = "notes.write"
    TASKS_WRITE = "tasks.write"
    CHAT = "chat"
    CALLS_LOG = "calls.log"
    CONVERSATIONS_VIEW_ALL = "conversations.view_all"
    CAMPAIGNS_MANAGE = "campaigns.manage"
    TEMPLATES_MANAGE = "templates.manage"
    REPORTS_VIEW = "reports.view"
    PRIVACY_REQUESTS_MANAGE = "privacy_requests.manage"


_SALES = frozenset(
    {
        Capability.LEADS_VIEW_ASSIGNED,
        Capability.LEADS_CREATE,
        Capability.LEADS_EDIT,
        Capability.LEADS_DELETE,
        Capability.NOTES_WRITE,
        Capability.TASKS_WRITE,
        Capability.CHAT,
        Capability.CALLS_LOG,
    }
)

_MANAGER = _SALES | {
    Capability.TEAM_VIEW,
    Capability.TEAM_INVITE_SALES,
    Capability.CHANNELS_MANAGE,
    Capability.INTEGRATIONS_MANAGE,
    Capability.API_KEYS_MANAGE,
    Capability.LEADS_VIEW_ALL,
    Capability.LEADS_ASSIGN,
    Capability.LEADS_BULK_DELETE,
    Capability.LEADS_IMPORT,
    Capability.LEADS_EXPORT,
    Capability.PIPELINE_CONFIGURE,
    Capability.CONVERSATIONS_VIEW_ALL,
    Capability.CAMPAIGNS_MANAGE,
    Capability.TEMPLATES_MANAGE,
    Capability.REPORTS_VIEW,
    Capability.PRIVACY_REQUESTS_MANAGE,
}

# The owner may do everything inside the workspace.
_OWNER = frozenset(Capability)

MATRIX: dict[Role, frozenset[Capability]] = {
    Role.OWNER: _OWNER,
    Role.MANAGER: frozenset(_MANAGER),
    Role.SALES: _SALES,
}

# Roles each role may hand out when inviting or changing roles.
GRANTABLE_ROLES: dict[Role, frozenset[Role]] = {
    Role.OWNER: frozenset(Role),
    Role.MANAGER: frozenset({Role.SALES}),
    Role.SALES: frozenset(),
}


def has_capability(role: Role | str, capability: Capability) -> bool:
    return capability in MATRIX[Role(role)]


def require_capability(role: Role | str, capability: Capability) -> None:
    if not has_capability(role, capability):
        raise PermissionDenied(capability.value)


def can_grant(role: Role | str, target: Role | str) -> bool:
    return Role(target) in GRANTABLE_ROLES[Role(role)]
