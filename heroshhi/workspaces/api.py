"""REST endpoints for the workspace's members and invitations.

The caller is an API key: ``request.actor`` carries the key's role, ``request.workspace``
its workspace (ApiKeyMiddleware set the scope). Team rules answer 409 with a stable code
(``already_member``, ``already_invited``, ``last_owner``...); the messages never contain an
address. E-mail addresses appear only in the lists, which need the team capability.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from heroshhi.core.actors import Actor
from heroshhi.core.errors import ErrorEnvelope, error_response
from heroshhi.core.schemas import InputSchema
from heroshhi.core.tenancy import get_in_scope_or_404
from heroshhi.workspaces.access import (
    access_invitation,
    access_membership,
    require_actor_capability,
)
from heroshhi.workspaces.errors import TeamRuleError
from heroshhi.workspaces.models import Invitation, Membership, Workspace
from heroshhi.workspaces.permissions import Capability, Role
from heroshhi.workspaces.selectors import invitations_open, team_members
from heroshhi.workspaces.services import (
    invitation_create,
    invitation_revoke,
    member_remove,
    member_role_change,
)

router = Router(tags=["team"])


class MemberOut(Schema):
    id: uuid.UUID = Field(description="The membership id (used in /members/{id}).")
    user_id: uuid.UUID
    full_name: str
    email: str
    role: Role
    joined_at: datetime


class MemberRoleIn(InputSchema):
    role: Role


class MemberRemoveQuery(InputSchema):
    reassign_to: uuid.UUID | None = Field(
        None,
        description="Membership id to hand the member's leads to; omitted: the unassigned pool.",
    )


class InvitationOut(Schema):
    id: uuid.UUID
    email: str
    role: Role
    status: Invitation.Status
    created_at: datetime
    expires_at: datetime


class InvitationIn(InputSchema):
    email: str = Field(min_length=3, max_length=254)
    role: Role


def _workspace(request: HttpRequest) -> Workspace:
    return cast(Workspace, request.workspace)  # type: ignore[attr-defined]


def _actor(request: HttpRequest) -> Actor:
    return cast(Actor, request.actor)  # type: ignore[attr-defined]


def _conflict(exc: TeamRuleError) -> HttpResponse:
    return error_response(409, exc.code, str(exc))


def _member_out(member: Membership) -> MemberOut:
    return MemberOut(
        id=member.pk,
        user_id=member.user.pk,
        full_name=member.user.full_name,
        email=member.user.email,
        role=Role(member.role),
        joined_at=member.created_at,
    )


def _invitation_out(invitation: Invitation, now: datetime) -> InvitationOut:
    return InvitationOut(
        id=invitation.pk,
        email=invitation.email,
        role=Role(invitation.role),
        status=invitation.status_at(now),
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


@router.get("/members", response={200: list[MemberOut]})
def members_list(request: HttpRequest) -> list[MemberOut]:
    require_actor_capability(_actor(request), Capability.TEAM_VIEW)
    return [_member_out(m) for m in team_members(workspace=_workspace(request))]


@router.patch(
    "/members/{member_id}",
    response={200: MemberOut, 409: ErrorEnvelope},
)
def members_update(
    request: HttpRequest, member_id: str, payload: MemberRoleIn
) -> MemberOut | HttpResponse:
    actor = _actor(request)
    member = access_membership(actor=actor, uid=member_id, perm=Capability.TEAM_CHANGE_ROLE)
    try:
        member = member_role_change(
            workspace=_workspace(request), actor=actor, member=member, role=payload.role
        )
    except TeamRuleError as exc:
        return _conflict(exc)
    return _member_out(member)


@router.delete(
    "/members/{member_id}",
    response={204: None, 409: ErrorEnvelope},
)
def members_remove(
    request: HttpRequest, member_id: str, query: Query[MemberRemoveQuery]
) -> Status[None] | HttpResponse:
    actor = _actor(request)
    member = access_membership(actor=actor, uid=member_id, perm=Capability.TEAM_REMOVE_MEMBER)
    reassign_to = None
    if query.reassign_to is not None:
        # The same 404 as for the member: an id from another workspace is simply unknown.
        reassign_to = get_in_scope_or_404(Membership.objects.all(), query.reassign_to)
    try:
        member_remove(
            workspace=_workspace(request), actor=actor, member=member, reassign_to=reassign_to
        )
    except TeamRuleError as exc:
        return _conflict(exc)
    return Status(204, None)


@router.get("/invitations", response={200: list[InvitationOut]})
def invitations_list(request: HttpRequest) -> list[InvitationOut]:
    """Invitations not yet accepted or revoked (status ``pending`` or ``expired``)."""
    require_actor_capability(_actor(request), Capability.TEAM_VIEW)
    now = timezone.now()
    return [_invitation_out(i, now) for i in invitations_open(workspace=_workspace(request))]


@router.post(
    "/invitations",
    response={201: InvitationOut, 409: ErrorEnvelope},
)
def invitations_create(
    request: HttpRequest, payload: InvitationIn
) -> Status[InvitationOut] | HttpResponse:
    """Invite an address to the workspace and e-mail it a single-use link (valid 7 days)."""
    try:
        invitation = invitation_create(
            workspace=_workspace(request),
            actor=_actor(request),
            email=payload.email,
            role=payload.role,
            invited_by=None,
            base_url=request.build_absolute_uri("/"),
        )
    except TeamRuleError as exc:
        return _conflict(exc)
    return Status(201, _invitation_out(invitation, timezone.now()))


@router.delete(
    "/invitations/{invitation_id}",
    response={204: None, 409: ErrorEnvelope},
)
def invitations_revoke(request: HttpRequest, invitation_id: str) -> Status[None] | HttpResponse:
    actor = _actor(request)
    invitation = access_invitation(
        actor=actor, uid=invitation_id, perm=Capability.TEAM_INVITE_SALES
    )
    try:
        invitation_revoke(workspace=_workspace(request), actor=actor, invitation=invitation)
    except TeamRuleError as exc:
        return _conflict(exc)
    return Status(204, None)
