"""Pages for signup, the workspace home, the team and invitation links. Thin: parse, call one
service or selector, render. Every rule lives in services.py; the pages only hide what
the services would refuse anyway."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.middleware import HtmxDetails

from heroshhi.accounts import authflow
from heroshhi.accounts.models import User
from heroshhi.core import ratelimit
from heroshhi.core.actors import Actor
from heroshhi.core.request_context import client_ip
from heroshhi.workspaces.access import (
    access_invitation,
    access_membership,
    invitable_roles,
    may_revoke,
    require_actor_capability,
)
from heroshhi.workspaces.errors import AlreadyMember, InvitationNotValid, TeamRuleError
from heroshhi.workspaces.forms import (
    InvitationAccountForm,
    InviteForm,
    RemoveMemberForm,
    RoleForm,
    SignupForm,
    WorkspaceStartForm,
)
from heroshhi.workspaces.labels import role_choices, role_label
from heroshhi.workspaces.models import Invitation, Membership, Workspace
from heroshhi.workspaces.permissions import (
    GRANTABLE_ROLES,
    Capability,
    Role,
    has_capability,
)
from heroshhi.workspaces.selectors import (
    first_workspace_of,
    invitation_by_token,
    invitations_open,
    team_members,
    user_exists_with_email,
    workspace_overview,
)
from heroshhi.workspaces.services import (
    invitation_accept,
    invitation_accept_new_user,
    invitation_create,
    invitation_is_for,
    invitation_revoke,
    member_remove,
    member_role_change,
    workspace_create_for_owner,
    workspace_sign_up,
)

# Counted per client IP on every submitted signup, so the "address taken" answer cannot
# be used to test many addresses.
SIGNUP_LIMIT = ratelimit.Limit("signup", 10, 3600)
# Counted per user: creating workspaces is cheap to ask for and costly to keep.
WORKSPACE_CREATE_LIMIT = ratelimit.Limit("workspace-create", 10, 3600)
INVITATION_SESSION_KEY = "workspaces.invitation_token"
TOKEN_MAX_LENGTH = 100


class SignedInRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


class WorkspaceRequest(SignedInRequest):
    """A request under /w/<slug>/, after WorkspaceMiddleware found the caller's seat."""

    workspace: Workspace
    membership: Membership
    actor: Actor


def _sign_in(request: HttpRequest, user: User) -> None:
    # A brand-new account has no second factor yet; the shared sign-in path stamps the
    # session clocks, registers the session and audits the sign-in.
    authflow.sign_in(request, user, backend=settings.AUTHENTICATION_BACKENDS[0], mfa="none")


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    """Service errors onto the form: by field where the form has it, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _too_many(decision: ratelimit.Decision) -> str:
    minutes = max(1, round(decision.retry_after / 60))
    return _("Too many attempts from your network. Try again in %(minutes)s minutes.") % {
        "minutes": minutes
    }


# --- Signup and creating a workspace ----------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("workspaces:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST":
        decision = ratelimit.hit(SIGNUP_LIMIT, client_ip(request) or "unknown")
        if not decision.allowed:
            return _signup_refused(request, decision)
        if form.is_valid():
            try:
                result = workspace_sign_up(**form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                _sign_in(request, result.user)
                return redirect("workspaces:dashboard", slug=result.workspace.slug)
    return render(request, "workspaces/signup.html", {"form": form})


def _signup_refused(request: HttpRequest, decision: ratelimit.Decision) -> HttpResponse:
    """Over the limit: nothing is validated (so nothing is learnt about the address), the
    typed values are kept, and the client is told when to come back."""
    kept = {name: request.POST.get(name, "") for name in ("business_name", "full_name", "email")}
    context = {"form": SignupForm(initial=kept), "refusal": _too_many(decision)}
    response = render(request, "workspaces/signup.html", context, status=429)
    response["Retry-After"] = str(decision.retry_after)
    return response


def workspace_start_page(
    request: HttpRequest, form: WorkspaceStartForm | None = None
) -> HttpResponse:
    """The "create or join a workspace" page (also what / shows to someone with none)."""
    return render(request, "workspaces/start.html", {"form": form or WorkspaceStartForm()})


@login_required
@require_http_methods(["GET", "POST"])
def workspace_start(request: SignedInRequest) -> HttpResponse:
    if request.method != "POST":
        return workspace_start_page(request)
    form = WorkspaceStartForm(request.POST)
    decision = ratelimit.hit(WORKSPACE_CREATE_LIMIT, str(request.user.pk))
    if not decision.allowed:
        form.add_error(None, _too_many(decision))
    elif form.is_valid():
        try:
            workspace = workspace_create_for_owner(
                actor=Actor.user(request.user.pk, role=Role.OWNER),
                name=form.cleaned_data["name"],
                owner=request.user,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Your workspace is ready."))
            return redirect("workspaces:dashboard", slug=workspace.slug)
    return workspace_start_page(request, form)


# --- Workspace home ---------------------------------------------------------------------


@require_GET
def dashboard(request: WorkspaceRequest, slug: str) -> HttpResponse:
    from heroshhi.leads.selectors import leads_recent  # leads builds on workspaces

    role = Role(request.membership.role)
    recent = leads_recent(workspace=request.workspace, actor=request.actor)
    context = {
        "overview": workspace_overview(workspace=request.workspace),
        "role": role_label(role),
        "can_view_team": has_capability(role, Capability.TEAM_VIEW),
        "recent": recent,
        "leads": [
            (lead.name or "—", lead.phone or "—", lead.stage.name, lead.get_source_display())
            for lead in recent.items
        ],
    }
    return render(request, "workspaces/dashboard.html", context)


# --- Team -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvitationRow:
    """What the team page shows of an invitation (the address decrypted once)."""

    id: str
    email: str
    role: str
    role_label: str
    status: Invitation.Status
    created_at: datetime
    expires_at: datetime
    revocable: bool


def _invitation_rows(request: WorkspaceRequest) -> list[InvitationRow]:
    role, now = Role(request.membership.role), timezone.now()
    return [
        InvitationRow(
            id=str(invitation.pk),
            email=invitation.email,
            role=invitation.role,
            role_label=role_label(invitation.role),
            status=invitation.status_at(now),
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
            revocable=may_revoke(role, invitation.role),
        )
        for invitation in invitations_open(workspace=request.workspace)
    ]


def _member_context(request: WorkspaceRequest) -> dict[str, object]:
    """What every member row needs: who may change roles or remove people, and to what."""
    role = Role(request.membership.role)
    return {
        "can_change_roles": has_capability(role, Capability.TEAM_CHANGE_ROLE),
        "can_remove": has_capability(role, Capability.TEAM_REMOVE_MEMBER),
        "role_choices": role_choices(GRANTABLE_ROLES[role]),
    }


def _team_page(request: WorkspaceRequest, invite_form: InviteForm | None = None) -> HttpResponse:
    role = Role(request.membership.role)
    grantable = invitable_roles(role)
    if invite_form is None and grantable:
        invite_form = InviteForm(grantable=grantable)
    context = {
        "members": list(team_members(workspace=request.workspace)),
        "invitations": _invitation_rows(request),
        "invite_form": invite_form,
        **_member_context(request),
    }
    return render(request, "workspaces/team.html", context)


@require_GET
def team(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.TEAM_VIEW)
    return _team_page(request)


@require_POST
def team_invite(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.TEAM_INVITE_SALES)
    form = InviteForm(request.POST, grantable=invitable_roles(Role(request.membership.role)))
    if form.is_valid():
        try:
            invitation_create(
                workspace=request.workspace,
                actor=request.actor,
                email=form.cleaned_data["email"],
                role=Role(form.cleaned_data["role"]),
                invited_by=request.user,
                base_url=request.build_absolute_uri("/"),
            )
        except TeamRuleError as exc:
            form.add_error("email", str(exc))
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Invitation sent. The link works once, for 7 days."))
            return redirect("workspaces:team", slug=slug)
    return _team_page(request, invite_form=form)


def _member_row(request: WorkspaceRequest, member: Membership, error: str = "") -> HttpResponse:
    context = {"member": member, "row_error": error, **_member_context(request)}
    return render(request, "workspaces/team.html#member-row", context)


@require_POST
def member_role(request: WorkspaceRequest, slug: str, member_id: str) -> HttpResponse:
    member = access_membership(actor=request.actor, uid=member_id, perm=Capability.TEAM_CHANGE_ROLE)
    form = RoleForm(request.POST, grantable=GRANTABLE_ROLES[Role(request.membership.role)])
    error = ""
    if not form.is_valid():
        error = _("Choose one of the roles offered.")
    else:
        try:
            member = member_role_change(
                workspace=request.workspace,
                actor=request.actor,
                member=member,
                role=Role(form.cleaned_data["role"]),
            )
        except TeamRuleError as exc:
            error = str(exc)
    if request.htmx:
        if error:
            member.refresh_from_db(fields=["role"])
        return _member_row(request, member, error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Role changed."))
    return redirect("workspaces:team", slug=slug)


@require_http_methods(["GET", "POST"])
def member_remove_confirm(request: WorkspaceRequest, slug: str, member_id: str) -> HttpResponse:
    member = access_membership(
        actor=request.actor, uid=member_id, perm=Capability.TEAM_REMOVE_MEMBER
    )
    others = [m for m in team_members(workspace=request.workspace) if m.pk != member.pk]
    form = RemoveMemberForm(request.POST or None, others=others)
    if request.method == "POST" and form.is_valid():
        try:
            member_remove(
                workspace=request.workspace,
                actor=request.actor,
                member=member,
                reassign_to=form.reassign_target(),
            )
        except TeamRuleError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Member removed and signed out everywhere."))
            return redirect("workspaces:team", slug=slug)
    return render(request, "workspaces/member_remove.html", {"member": member, "form": form})


@require_POST
def invitation_revoke_view(
    request: WorkspaceRequest, slug: str, invitation_id: str
) -> HttpResponse:
    invitation = access_invitation(
        actor=request.actor, uid=invitation_id, perm=Capability.TEAM_INVITE_SALES
    )
    error = ""
    try:
        invitation_revoke(workspace=request.workspace, actor=request.actor, invitation=invitation)
    except TeamRuleError as exc:
        error = str(exc)
    if request.htmx:
        # An empty answer swaps the row away; an error replaces the row with the reason.
        if not error:
            return HttpResponse("")
        return render(request, "workspaces/_row_error.html", {"error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Invitation revoked. Its link no longer works."))
    return redirect("workspaces:team", slug=slug)


# --- Invitation links -------------------------------------------------------------------


@require_GET
def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the e-mail. The token moves into the session and the browser goes on
    to a token-free address (as Django's password-reset confirmation does), so the token
    does not linger in history, Referer headers or the logs of later requests."""
    request.session[INVITATION_SESSION_KEY] = token[:TOKEN_MAX_LENGTH]
    return redirect("workspaces:invitation_continue")


def _invitation_gone(request: HttpRequest) -> HttpResponse:
    request.session.pop(INVITATION_SESSION_KEY, None)
    return render(request, "workspaces/invitation_invalid.html", status=410)


def _joined(request: HttpRequest, membership: Membership) -> HttpResponse:
    request.session.pop(INVITATION_SESSION_KEY, None)
    messages.success(
        request,
        _("Welcome to %(workspace)s.") % {"workspace": membership.workspace.name},
    )
    return redirect("workspaces:dashboard", slug=membership.workspace.slug)


@require_http_methods(["GET", "POST"])
def invitation_continue(request: HttpRequest) -> HttpResponse:
    """Accepting the invitation whose token the link put in the session."""
    invitation = invitation_by_token(token=request.session.get(INVITATION_SESSION_KEY, ""))
    if invitation is None or invitation.status_at(timezone.now()) != Invitation.Status.PENDING:
        return _invitation_gone(request)
    context: dict[str, object] = {
        "invitation": invitation,
        "role": role_label(invitation.role),
    }
    if request.user.is_authenticated:
        return _accept_signed_in(request, invitation, context)
    if user_exists_with_email(email=invitation.email):
        return render(request, "workspaces/invitation_sign_in.html", context)
    return _accept_new_user(request, invitation, context)


def _accept_signed_in(
    request: HttpRequest, invitation: Invitation, context: dict[str, object]
) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    if not invitation_is_for(invitation, user):
        return render(request, "workspaces/invitation_other_user.html", context, status=403)
    if request.method == "POST":
        try:
            membership = invitation_accept(
                workspace=invitation.workspace,
                actor=Actor.user(user.pk, role=invitation.role),
                invitation=invitation,
                user=user,
            )
        except AlreadyMember:
            request.session.pop(INVITATION_SESSION_KEY, None)
            messages.info(request, _("You are already a member of this workspace."))
            return redirect("workspaces:dashboard", slug=invitation.workspace.slug)
        except InvitationNotValid:
            return _invitation_gone(request)
        return _joined(request, membership)
    return render(request, "workspaces/invitation_accept.html", context)


def _accept_new_user(
    request: HttpRequest, invitation: Invitation, context: dict[str, object]
) -> HttpResponse:
    form = InvitationAccountForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            membership = invitation_accept_new_user(
                workspace=invitation.workspace,
                invitation=invitation,
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password"],
            )
        except InvitationNotValid:
            return _invitation_gone(request)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            _sign_in(request, membership.user)
            return _joined(request, membership)
    return render(request, "workspaces/invitation_new_user.html", {**context, "form": form})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Signed in: straight into the first workspace. Someone with none sees the "create or
    join a workspace" page right here (no extra redirect)."""
    workspace = first_workspace_of(user=request.user)
    if workspace is not None:
        return redirect("workspaces:dashboard", slug=workspace.slug)
    return workspace_start_page(request)
