"""Writes for workspaces, memberships and invitations.

Every team rule is enforced here, whoever calls (page, API, command): the capability from
the permission matrix, ``can_grant`` for the role handed out, and the "at least one owner"
invariant. Each write records its audit event in the same transaction; e-mail goes out
only once that transaction has committed.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.accounts.models import User
from heroshhi.accounts.services import user_create, user_sessions_end
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.crypto import EMAIL, blind_index, normalise_email
from heroshhi.core.tenancy import WorkspaceScopeMismatch, workspace_scope
from heroshhi.workspaces.access import may_invite, may_revoke, require_actor_capability
from heroshhi.workspaces.errors import (
    AlreadyInvited,
    AlreadyMember,
    CannotRemoveSelf,
    InvitationAlreadyAccepted,
    InvitationForSomeoneElse,
    InvitationNotValid,
    LastOwner,
)
from heroshhi.workspaces.labels import role_label
from heroshhi.workspaces.models import Invitation, Membership, Workspace
from heroshhi.workspaces.permissions import Capability, Role, can_grant
from heroshhi.workspaces.selectors import (
    free_workspace_slug,
    invitation_token_hash,
    slug_base,
)

logger = logging.getLogger(__name__)

INVITATION_TTL = timedelta(days=7)
INVITATION_TOKEN_BYTES = 32  # 256 bits
SLUG_ATTEMPTS = 3


# --- Workspaces -------------------------------------------------------------------------


@transaction.atomic
def workspace_create(
    *, actor: Actor, name: str, slug: str, owner: User, plan: str = "trial"
) -> Workspace:
    workspace = Workspace(name=name.strip(), slug=slug, plan=plan)
    workspace.full_clean()
    workspace.save()
    membership_create(workspace=workspace, user=owner, role=Role.OWNER)
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.WORKSPACE_CREATED,
        target=("workspace", str(workspace.pk)),
        metadata={"plan": plan},
    )
    return workspace


def _is_slug_clash(exc: ValidationError) -> bool:
    errors = getattr(exc, "error_dict", {}).get("slug", [])
    return any(error.code == "unique" for error in errors)


@transaction.atomic
def workspace_create_for_owner(*, actor: Actor, name: str, owner: User) -> Workspace:
    """``workspace_create`` with a slug derived from ``name``.

    The free slug is read before the insert, so a concurrent signup with the same name can
    take it in between; then the next attempt adds a random suffix instead.
    """
    slug = free_workspace_slug(name=name)
    for attempt in range(1, SLUG_ATTEMPTS + 1):
        last = attempt == SLUG_ATTEMPTS
        try:
            with transaction.atomic():  # a savepoint, so a clash leaves the caller usable
                return workspace_create(actor=actor, name=name, slug=slug, owner=owner)
        except IntegrityError:
            if last:
                raise
        except ValidationError as exc:
            if last or not _is_slug_clash(exc):
                raise
        slug = f"{slug_base(name)}-{secrets.token_hex(3)}"
    raise AssertionError("unreachable")  # pragma: no cover


@transaction.atomic
def membership_create(*, workspace: Workspace, user: User, role: Role) -> Membership:
    with workspace_scope(workspace):
        membership = Membership(workspace=workspace, user=user, role=role)
        membership.full_clean()
        membership.save()
    return membership


def _audit_user_created(*, actor: Actor, user: User, via: str) -> None:
    # Users are platform-level (one account, many workspaces), so the platform chain.
    audit_record(
        workspace=None,
        actor=actor,
        action=AuditAction.USER_CREATED,
        target=("user", str(user.pk)),
        metadata={"via": via},
    )


@dataclass(frozen=True, slots=True)
class SignUp:
    user: User
    workspace: Workspace


@transaction.atomic
def workspace_sign_up(*, business_name: str, full_name: str, email: str, password: str) -> SignUp:
    """A new business: the person's account and a workspace with them as its owner.

    There is no actor argument: the person signing up is the actor of every event, from
    the moment their account exists. Raises ``ValidationError`` for a taken address or a
    weak password (nothing is created then).
    """
    user = user_create(email=email, password=password, full_name=full_name.strip())
    actor = Actor.user(user.pk, role=Role.OWNER)
    _audit_user_created(actor=actor, user=user, via="signup")
    workspace = workspace_create_for_owner(actor=actor, name=business_name, owner=user)
    return SignUp(user=user, workspace=workspace)


def _ensure_in(workspace: Workspace, row: Membership | Invitation) -> None:
    """Fail closed when a caller hands over a row of another workspace (access_* would
    have answered 404 for it; this guards callers that skipped it)."""
    if row.workspace_id != workspace.pk:
        raise WorkspaceScopeMismatch(f"{type(row).__name__} belongs to another workspace.")


# --- Invitations ------------------------------------------------------------------------


def _require_may_invite(actor: Actor, role: Role) -> None:
    needed = Capability.TEAM_INVITE_SALES if role == Role.SALES else Capability.TEAM_INVITE_ANY_ROLE
    actor_role = require_actor_capability(actor, needed)
    if not may_invite(actor_role, role):
        raise PermissionDenied("team.grant_role")


def _clean_address(email: str) -> str:
    address = email.strip()
    try:
        validate_email(address)
    except ValidationError:
        # The message names the field, never the value.
        raise ValidationError({"email": [_("Enter a valid e-mail address.")]}) from None
    return normalise_email(address)


@transaction.atomic
def invitation_create(
    *,
    workspace: Workspace,
    actor: Actor,
    email: str,
    role: Role,
    invited_by: User | None,
    base_url: str,
) -> Invitation:
    """Invite ``email`` to join as ``role`` and e-mail them a single-use link.

    Owners may invite any role, managers sales only. Refused with ``AlreadyMember`` when
    the address already has a seat here and ``AlreadyInvited`` while an earlier invitation
    to it is pending. ``base_url`` (scheme and host) starts the link in the e-mail.
    """
    role = Role(role)
    _require_may_invite(actor, role)
    address = _clean_address(email)
    now = timezone.now()
    with workspace_scope(workspace):
        if Membership.objects.filter(workspace=workspace, user__email__iexact=address).exists():
            raise AlreadyMember
        email_bidx = blind_index(workspace.pk, EMAIL, address)
        pending = {"accepted_at__isnull": True, "revoked_at__isnull": True, "expires_at__gt": now}
        if Invitation.objects.filter(
            workspace=workspace, email_bidx=email_bidx, **pending
        ).exists():
            raise AlreadyInvited
        token = secrets.token_urlsafe(INVITATION_TOKEN_BYTES)
        invitation = Invitation(
            workspace=workspace,
            email=address,
            email_bidx=email_bidx,
            role=role.value,
            invited_by=invited_by,
            token_hash=invitation_token_hash(token),
            expires_at=now + INVITATION_TTL,
        )
        invitation.full_clean()
        invitation.save()
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.INVITATION_SENT,
            target=("invitation", str(invitation.pk)),
            metadata={"role": role.value},
        )
    accept_path = reverse("workspaces:invitation_accept", kwargs={"token": token})
    transaction.on_commit(
        partial(
            _invitation_email_send,
            invitation_id=invitation.pk,
            address=address,
            accept_url=f"{base_url.rstrip('/')}{accept_path}",
            workspace_name=workspace.name,
            inviter_name=invited_by.full_name if invited_by else "",
            role=role,
            expires_at=invitation.expires_at,
        )
    )
    return invitation


def _invitation_email_send(
    *,
    invitation_id: uuid.UUID,
    address: str,
    accept_url: str,
    workspace_name: str,
    inviter_name: str,
    role: Role,
    expires_at: datetime,
) -> None:
    """Runs after commit. A mail failure must not turn a saved invitation into an error
    page, so it is logged (by invitation id only) and the invitation can be re-sent."""
    context = {
        "accept_url": accept_url,
        "workspace_name": workspace_name,
        "inviter_name": inviter_name,
        "role": role_label(role),
        "expires_at": expires_at,
    }
    subject = render_to_string("workspaces/email/invitation_subject.txt", context)
    body = render_to_string("workspaces/email/invitation.txt", context)
    try:
        send_mail(" ".join(subject.split()), body, None, [address])
    except Exception as exc:
        # The exception text may quote the address, so only its type is logged.
        logger.warning(
            "invitation e-mail could not be sent",
            extra={"invitation_id": str(invitation_id), "error": type(exc).__name__},
        )


@transaction.atomic
def invitation_revoke(*, workspace: Workspace, actor: Actor, invitation: Invitation) -> None:
    """Withdraw a pending (or expired) invitation; its link stops working at once.

    A manager may withdraw only what a manager could have sent (sales invitations).
    Revoking twice is harmless; an accepted invitation cannot be revoked (remove the
    member instead).
    """
    _ensure_in(workspace, invitation)
    actor_role = require_actor_capability(actor, Capability.TEAM_INVITE_SALES)
    if not may_revoke(actor_role, invitation.role):
        raise PermissionDenied("team.grant_role")
    now = timezone.now()
    with workspace_scope(workspace):
        # Conditional UPDATE: a concurrent acceptance either lands first or not at all.
        revoked = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        if revoked == 0:
            invitation.refresh_from_db(fields=["accepted_at", "revoked_at"])
            if invitation.accepted_at is not None:
                raise InvitationAlreadyAccepted
            return
        invitation.revoked_at = now
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.INVITATION_REVOKED,
            target=("invitation", str(invitation.pk)),
            metadata={"role": invitation.role},
        )


def invitation_is_for(invitation: Invitation, user: User) -> bool:
    """Whether ``user``'s e-mail address is the one the invitation was sent to."""
    if not user.is_authenticated:
        return False
    own = blind_index(invitation.workspace_id, EMAIL, user.email)
    return hmac.compare_digest(own, invitation.email_bidx)


@transaction.atomic
def invitation_accept(
    *, workspace: Workspace, actor: Actor, invitation: Invitation, user: User
) -> Membership:
    """``user`` takes the seat ``invitation`` offers.

    The invitation is claimed with a conditional UPDATE, so its link works exactly once,
    even when it is used twice at the same moment. Raises ``InvitationNotValid`` when it
    is expired, revoked or used, ``InvitationForSomeoneElse`` when ``user`` has another
    address, and ``AlreadyMember`` (leaving the invitation unused) when they have a seat.
    """
    if invitation.workspace_id != workspace.pk:
        raise InvitationNotValid
    if not invitation_is_for(invitation, user):
        raise InvitationForSomeoneElse
    now = timezone.now()
    with workspace_scope(workspace):
        if Membership.objects.filter(workspace=workspace, user=user).exists():
            raise AlreadyMember
        claimed = Invitation.objects.filter(
            pk=invitation.pk,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        ).update(accepted_at=now)
        if claimed != 1:
            raise InvitationNotValid
        invitation.accepted_at = now
        membership = membership_create(workspace=workspace, user=user, role=Role(invitation.role))
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.INVITATION_ACCEPTED,
            target=("invitation", str(invitation.pk)),
            metadata={"role": invitation.role},
        )
    return membership


@transaction.atomic
def invitation_accept_new_user(
    *, workspace: Workspace, invitation: Invitation, full_name: str, password: str
) -> Membership:
    """Someone without an account accepts: the account is created for the invited address
    and joins in the same transaction, so a dead invitation leaves no account behind.

    The new person is the actor of every event. Raises ``ValidationError`` for a weak
    password or an address that has an account by now.
    """
    if invitation.status_at(timezone.now()) != Invitation.Status.PENDING:
        raise InvitationNotValid
    user = user_create(email=invitation.email, password=password, full_name=full_name.strip())
    actor = Actor.user(user.pk, role=invitation.role)
    _audit_user_created(actor=actor, user=user, via="invitation")
    return invitation_accept(workspace=workspace, actor=actor, invitation=invitation, user=user)


# --- Members ----------------------------------------------------------------------------


def _ensure_another_owner(*, workspace: Workspace, member: Membership) -> None:
    """Refuse a change that would leave the workspace without an owner.

    The owners' rows are locked first, so two owners demoting each other at the same
    moment cannot both succeed.
    """
    owners = set(
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.OWNER.value)
        .values_list("pk", flat=True)
    )
    if not owners - {member.pk}:
        raise LastOwner


@transaction.atomic
def member_role_change(
    *, workspace: Workspace, actor: Actor, member: Membership, role: Role
) -> Membership:
    """Give ``member`` another role (owners only; never demoting the last owner)."""
    role = Role(role)
    _ensure_in(workspace, member)
    actor_role = require_actor_capability(actor, Capability.TEAM_CHANGE_ROLE)
    if not (can_grant(actor_role, role) and can_grant(actor_role, member.role)):
        raise PermissionDenied("team.grant_role")
    if member.role == role.value:
        return member
    previous = member.role
    with workspace_scope(workspace):
        if previous == Role.OWNER.value:
            _ensure_another_owner(workspace=workspace, member=member)
        member.role = role.value
        member.save(update_fields=["role"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.MEMBER_ROLE_CHANGED,
            target=("membership", str(member.pk)),
            metadata={"from": previous, "to": role.value},
        )
    return member


def member_leads_hand_back(
    *, workspace: Workspace, actor: Actor, member: Membership, reassign_to: Membership | None
) -> int:
    """Hand the leads assigned to ``member`` to ``reassign_to``, or back to the workspace's
    unassigned pool when it is None. Returns how many leads moved.

    Called by ``member_remove`` inside its transaction and before the membership is
    deleted; the caller already validated that ``reassign_to`` is another member.
    """
    from heroshhi.leads.services.assignment import leads_hand_back  # leads builds on workspaces

    return leads_hand_back(workspace=workspace, actor=actor, member=member, reassign_to=reassign_to)


@transaction.atomic
def member_remove(
    *,
    workspace: Workspace,
    actor: Actor,
    member: Membership,
    reassign_to: Membership | None = None,
) -> None:
    """Take ``member``'s seat away (owners only; never the last owner, never yourself).

    Their leads go to ``reassign_to`` or back to the unassigned pool, and every signed-in
    session of theirs ends (on all devices and in every workspace), so the removal takes
    effect at once rather than when a session expires.
    """
    _ensure_in(workspace, member)
    actor_role = require_actor_capability(actor, Capability.TEAM_REMOVE_MEMBER)
    if not can_grant(actor_role, member.role):
        raise PermissionDenied("team.grant_role")
    if actor.type == ActorType.USER and actor.id == str(member.user_id):
        raise CannotRemoveSelf
    if reassign_to is not None and (
        reassign_to.pk == member.pk or reassign_to.workspace_id != workspace.pk
    ):
        raise ValidationError({"reassign_to": [_("Choose another member of this workspace.")]})
    with workspace_scope(workspace):
        if member.role == Role.OWNER.value:
            _ensure_another_owner(workspace=workspace, member=member)
        handed_back = member_leads_hand_back(
            workspace=workspace, actor=actor, member=member, reassign_to=reassign_to
        )
        user, member_id, role = member.user, member.pk, member.role
        member.delete()
        sessions_ended = user_sessions_end(user=user)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.MEMBER_REMOVED,
            target=("membership", str(member_id)),
            metadata={
                "user_id": str(user.pk),
                "role": role,
                "reassign_to": None if reassign_to is None else str(reassign_to.pk),
                "leads_handed_back": handed_back,
                "sessions_ended": sessions_ended,
            },
        )
