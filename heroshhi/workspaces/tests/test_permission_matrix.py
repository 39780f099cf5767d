"""The code's matrix matches PRODUCT.md's role table, cell by cell.

The table below is transcribed from PRODUCT.md ("Who uses it") independently of
permissions.py: (owner, manager, sales).
"""

import pytest
from django.core.exceptions import PermissionDenied

from heroshhi.workspaces.permissions import (
    Capability,
    Role,
    can_grant,
    has_capability,
    require_capability,
)

C = Capability

Y, N = True, False

SPECIFICATION: dict[C, tuple[bool, bool, bool]] = {
    # owner: team, roles, billing, channels & integrations, retention, export, bulk delete,
    # termination, audit log. manager: invites sales only, no billing/termination/roles.
    C.TEAM_VIEW: (Y, Y, N),
    C.TEAM_INVITE_SALES: (Y, Y, N),
    C.TEAM_INVITE_ANY_ROLE: (Y, N, N),
    C.TEAM_CHANGE_ROLE: (Y, N, N),
    C.TEAM_REMOVE_MEMBER: (Y, N, N),
    C.BILLING_MANAGE: (Y, N, N),
    C.CHANNELS_MANAGE: (Y, Y, N),
    C.INTEGRATIONS_MANAGE: (Y, Y, N),
    C.API_KEYS_MANAGE: (Y, Y, N),
    C.SECURITY_SETTINGS: (Y, N, N),
    C.RETENTION_MANAGE: (Y, N, N),
    C.WORKSPACE_EXPORT: (Y, N, N),
    C.WORKSPACE_TERMINATE: (Y, N, N),
    C.AUDIT_VIEW: (Y, N, N),
    # manager: all leads and conversations, assignment, campaigns, templates, reports,
    # CSV import/export, privacy requests of contacts.
    # sales: only assigned leads: view, edit, note, chat, log calls, tasks; no export,
    # no bulk delete, no campaigns, no settings.
    C.LEADS_VIEW_ALL: (Y, Y, N),
    C.LEADS_VIEW_ASSIGNED: (Y, Y, Y),
    C.LEADS_CREATE: (Y, Y, Y),
    C.LEADS_EDIT: (Y, Y, Y),
    C.LEADS_ASSIGN: (Y, Y, N),
    C.LEADS_DELETE: (Y, Y, Y),
    C.LEADS_BULK_DELETE: (Y, Y, N),
    C.LEADS_DELETE_NOW: (Y, N, N),
    C.LEADS_IMPORT: (Y, Y, N),
    C.LEADS_EXPORT: (Y, Y, N),
    C.PIPELINE_CONFIGURE: (Y, Y, N),
    C.NOTES_WRITE: (Y, Y, Y),
    C.TASKS_WRITE: (Y, Y, Y),
    C.CHAT: (Y, Y, Y),
    C.CALLS_LOG: (Y, Y, Y),
    C.CONVERSATIONS_VIEW_ALL: (Y, Y, N),
    C.CAMPAIGNS_MANAGE: (Y, Y, N),
    C.TEMPLATES_MANAGE: (Y, Y, N),
    C.REPORTS_VIEW: (Y, Y, N),
    C.PRIVACY_REQUESTS_MANAGE: (Y, Y, N),
}

ROLES = (Role.OWNER, Role.MANAGER, Role.SALES)


def test_the_specification_covers_every_capability():
    assert set(SPECIFICATION) == set(C)


@pytest.mark.parametrize("capability", list(C))
@pytest.mark.parametrize("role_index", range(3))
def test_every_role_and_capability_matches_the_specification(capability, role_index):
    role = ROLES[role_index]
    expected = SPECIFICATION[capability][role_index]
    assert has_capability(role, capability) is expected
    if expected:
        require_capability(role, capability)
    else:
        with pytest.raises(PermissionDenied):
            require_capability(role, capability)


@pytest.mark.parametrize(
    ("granter", "target", "allowed"),
    [
        (Role.OWNER, Role.OWNER, True),
        (Role.OWNER, Role.MANAGER, True),
        (Role.OWNER, Role.SALES, True),
        (Role.MANAGER, Role.OWNER, False),
        (Role.MANAGER, Role.MANAGER, False),
        (Role.MANAGER, Role.SALES, True),
        (Role.SALES, Role.SALES, False),
    ],
)
def test_roles_can_only_grant_what_product_allows(granter, target, allowed):
    assert can_grant(granter, target) is allowed
