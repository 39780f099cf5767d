"""Words people see for roles and invitation states (the stored values are codes)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from heroshhi.workspaces.permissions import Role

ROLE_LABELS: dict[Role, Promise] = {
    Role.OWNER: _("Owner"),
    Role.MANAGER: _("Manager"),
    Role.SALES: _("Sales"),
}


def role_label(role: Role | str) -> str:
    try:
        return str(ROLE_LABELS[Role(role)])
    except ValueError:
        return str(role)


def role_choices(roles: frozenset[Role] | set[Role]) -> list[tuple[str, str]]:
    """Form choices for ``roles``, most powerful first."""
    return [(role.value, role_label(role)) for role in Role if role in roles]
