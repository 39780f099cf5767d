"""Team rules a request can break. Each has a stable code (API clients match on it) and a
message people can read. Messages never name the person or address involved."""

from __future__ import annotations

from typing import ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class WorkspaceConflict(Exception):
    """A request that conflicts with the workspace's current state (HTTP 409 in the API):
    a stable ``code`` and a readable ``message``, both fixed per subclass."""

    code: ClassVar[str] = "conflict"
    message: ClassVar[Promise] = _("That conflicts with the workspace as it is now.")

    def __str__(self) -> str:
        return str(self.message)


class TeamRuleError(WorkspaceConflict):
    """A request that conflicts with the team's current state."""

    message = _("That change conflicts with the team as it is now.")


class AlreadyMember(TeamRuleError):
    code = "already_member"
    message = _("This person is already a member of the workspace.")


class AlreadyInvited(TeamRuleError):
    code = "already_invited"
    message = _(
        "An invitation to this address is still pending. Revoke it first to send a new one."
    )


class LastOwner(TeamRuleError):
    code = "last_owner"
    message = _("A workspace needs at least one owner. Make someone else an owner first.")


class CannotRemoveSelf(TeamRuleError):
    code = "cannot_remove_self"
    message = _("You cannot remove yourself. Ask another owner to do it.")


class InvitationAlreadyAccepted(TeamRuleError):
    code = "invitation_accepted"
    message = _("This invitation has already been accepted.")


class InvitationNotValid(TeamRuleError):
    """Unknown, expired, revoked or used: one error, so no state can be told apart."""

    code = "invitation_not_valid"
    message = _("This invitation is no longer valid.")


class InvitationForSomeoneElse(TeamRuleError):
    code = "invitation_for_someone_else"
    message = _("This invitation was sent to a different e-mail address.")
