"""Who must use two-factor sign-in (ASVS V6.3.3).

* Platform admins (``is_staff``), always.
* Every member of a workspace whose owner switched on ``require_two_factor``, while they
  are inside that workspace (``/w/<slug>/...``).

API keys are credentials of a workspace, not of a person, and are not affected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from heroshhi.accounts.models import User
from heroshhi.accounts.selectors import user_has_two_factor

if TYPE_CHECKING:
    from heroshhi.workspaces.models import Workspace


def two_factor_policy_applies(*, user: User, workspace: Workspace | None) -> bool:
    """Whether a rule requires two-factor of this user here (no database query)."""
    return bool(user.is_staff or (workspace is not None and workspace.require_two_factor))


def two_factor_required_for(*, user: User, workspace: Workspace | None) -> bool:
    """Whether the user must set up two-factor before going on."""
    return two_factor_policy_applies(user=user, workspace=workspace) and not user_has_two_factor(
        user=user
    )
