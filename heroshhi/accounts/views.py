"""Sign-in, two-factor, password and security pages. Thin: the work is in ``authflow``
(request-level steps) and ``services`` (every write)."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import INTERNAL_RESET_SESSION_TOKEN
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from heroshhi.accounts import authflow, sessions, totp
from heroshhi.accounts.errors import TwoFactorError
from heroshhi.accounts.forms import (
    INVALID_CODE,
    WRONG_PASSWORD,
    EmailAuthenticationForm,
    NewPasswordForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    ReauthenticationForm,
    TwoFactorCodeForm,
    TwoFactorConfirmForm,
    WorkspaceTwoFactorForm,
    add_check_error,
)
from heroshhi.accounts.models import User
from heroshhi.accounts.selectors import (
    recovery_codes_left,
    totp_device_of,
    totp_secret,
    user_has_two_factor,
    user_sessions_list,
    workspace_locks,
    workspace_member,
    workspaces_with_security_settings,
)
from heroshhi.accounts.services import (
    LOGOUT_BY_USER,
    member_sign_in_unlock,
    password_reset_complete,
    password_reset_request,
    recovery_codes_regenerate,
    totp_disable,
    totp_enrolment_confirm,
    totp_enrolment_start,
    workspace_two_factor_require,
)
from heroshhi.core.actors import Actor
from heroshhi.core.request_context import client_ip
from heroshhi.workspaces.permissions import Capability, require_capability
from heroshhi.workspaces.selectors import membership_for_slug

# Two re-authentication forms share the two-factor page; prefixes keep their ids apart.
DISABLE_PREFIX = "disable"
CODES_PREFIX = "codes"

_ENDED_NOTICES = {
    sessions.IDLE_TIMEOUT: lambda: _("You were signed out after a period of inactivity."),
    sessions.ABSOLUTE_TIMEOUT: lambda: _(
        "Your session reached its time limit. Please sign in again."
    ),
}


def _local_url(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` when it is a URL of this site, else ""."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` when it is a URL of this site, else the default landing page."""
    return _local_url(request, candidate) or resolve_url(settings.LOGIN_REDIRECT_URL)


def _signed_in_user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required ran first
    return user


# --- Sign-in --------------------------------------------------------------------------------


@sensitive_post_parameters()
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next")
    if request.user.is_authenticated:
        return redirect(_safe_next(request, next_url))
    notice = request.session.pop(authflow.ENDED_NOTICE, None)
    if notice in _ENDED_NOTICES:
        messages.info(request, _ENDED_NOTICES[notice]())
    form = EmailAuthenticationForm(request, data=request.POST or None)
    if request.method == "POST":
        user = authflow.password_step(request, form)
        if user is not None and user_has_two_factor(user=user):
            authflow.pending_start(request, user=user, next_url=_safe_next(request, next_url))
            return redirect("accounts:login_verify")
        if user is not None:
            authflow.sign_in(request, user, backend=getattr(user, "backend", None), mfa="none")
            return redirect(_safe_next(request, next_url))
    context = {"form": form, "next": _local_url(request, next_url)}
    return render(request, "accounts/login.html", context)


@sensitive_post_parameters()
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_verify_view(request: HttpRequest) -> HttpResponse:
    """The second sign-in step, for accounts with two-factor."""
    pending = authflow.pending_get(request)
    if pending is None:
        messages.info(request, _("Your sign-in timed out. Please start again."))
        return redirect("accounts:login")
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = authflow.code_step(request, pending=pending, code=form.cleaned_data["code"])
        if outcome is authflow.CodeOutcome.SIGNED_IN:
            return redirect(_safe_next(request, pending.next_url))
        if outcome is authflow.CodeOutcome.RESTART:
            messages.error(request, _("Too many wrong codes. Please sign in again."))
            return redirect("accounts:login")
        form.add_error("code", INVALID_CODE)
    return render(request, "accounts/login_verify.html", {"form": form})


@require_POST
@csrf_protect
@never_cache
def logout_view(request: HttpRequest) -> HttpResponse:
    authflow.sign_out(request, reason=LOGOUT_BY_USER)
    return redirect(settings.LOGOUT_REDIRECT_URL)


# --- Password reset (Django's views, our templates, our limits and audit) -------------------


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetRequestForm
    template_name = "accounts/password_reset_form.html"
    success_url = reverse_lazy("accounts:password_reset_done")

    def form_valid(self, form: Any) -> HttpResponse:
        # Same answer whatever happens: sent, unknown address, or over the limit.
        password_reset_request(
            email=form.cleaned_data["email"],
            ip=client_ip(self.request),
            domain=self.request.get_host(),
            use_https=self.request.is_secure(),
        )
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


@method_decorator(csrf_protect, name="dispatch")
class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = NewPasswordForm
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form: Any) -> HttpResponse:
        password_reset_complete(user=form.user, new_password=form.cleaned_data["new_password1"])
        del self.request.session[INTERNAL_RESET_SESSION_TOKEN]
        return HttpResponseRedirect(self.get_success_url())


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


# --- The security page ----------------------------------------------------------------------


def _security_page(request: HttpRequest, **forms: Any) -> HttpResponse:
    user = _signed_in_user(request)
    owned = workspaces_with_security_settings(user=user)
    context = {
        "has_two_factor": user_has_two_factor(user=user),
        "recovery_codes_left": recovery_codes_left(user=user),
        "user_sessions": user_sessions_list(user=user),
        "current_session_key": request.session.session_key,
        "password_form": forms.get("password_form") or PasswordChangeForm(user),
        "owned_workspaces": owned,
        "workspace_locks": workspace_locks(workspaces=owned),
        "idle_minutes": sessions.idle_seconds() // 60,
        "absolute_hours": sessions.absolute_seconds() // 3600,
    }
    status = 400 if forms else 200
    return render(request, "accounts/security.html", context, status=status)


@login_required
@never_cache
def security_view(request: HttpRequest) -> HttpResponse:
    return _security_page(request)


@login_required
@sensitive_post_parameters()
@require_POST
def password_change_view(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    form = PasswordChangeForm(user, request.POST)
    if form.is_valid():
        problem = authflow.check_current_password(user, form.cleaned_data["old_password"])
        add_check_error(form, "old_password", problem, WRONG_PASSWORD)
    if not form.is_valid():
        return _security_page(request, password_form=form)
    ended = authflow.change_password(request, new_password=form.cleaned_data["new_password1"])
    messages.success(
        request,
        _("Password changed. Other sessions signed out: %(count)d.") % {"count": ended},
    )
    return redirect("security:index")


@login_required
@require_POST
def logout_everywhere_view(request: HttpRequest) -> HttpResponse:
    authflow.sign_out_everywhere(request)
    return redirect(settings.LOGOUT_REDIRECT_URL)


# --- Two-factor settings --------------------------------------------------------------------


def _two_factor_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    user = _signed_in_user(request)
    device = totp_device_of(user=user)
    context: dict[str, Any] = {
        "device": device,
        "confirm_form": TwoFactorConfirmForm(),
        "disable_form": ReauthenticationForm(prefix=DISABLE_PREFIX),
        "codes_form": ReauthenticationForm(prefix=CODES_PREFIX),
        "recovery_codes_left": recovery_codes_left(user=user),
        "next": _local_url(request, request.GET.get("next") or request.POST.get("next")),
        **extra,
    }
    if device is not None and not device.confirmed:
        secret = totp_secret(device=device)
        label = user.full_name or _("account")
        context["secret_grouped"] = totp.grouped(secret)
        context["otpauth_uri"] = totp.provisioning_uri(secret, account_label=label)
    return render(request, "accounts/two_factor.html", context, status=status)


@login_required
@never_cache
def two_factor_view(request: HttpRequest) -> HttpResponse:
    return _two_factor_page(request)


@login_required
@require_POST
def two_factor_setup_view(request: HttpRequest) -> HttpResponse:
    try:
        totp_enrolment_start(user=_signed_in_user(request))
    except TwoFactorError:
        messages.info(request, _("Two-factor sign-in is already on."))
    next_url = _local_url(request, request.POST.get("next"))
    return redirect(_with_next(reverse("security:two_factor"), next_url))


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


@login_required
@sensitive_post_parameters()
@never_cache
@require_POST
def two_factor_confirm_view(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    form = TwoFactorConfirmForm(request.POST)
    if form.is_valid():
        try:
            codes = totp_enrolment_confirm(user=user, code=form.cleaned_data["code"])
        except TwoFactorError as error:
            if error.code != "bad_code":
                return redirect("security:two_factor")
            form.add_error("code", INVALID_CODE)
        else:
            request.session[sessions.MFA_METHOD] = "totp"
            return _recovery_codes_page(request, codes, enabled=True)
    return _two_factor_page(request, status=400, confirm_form=form)


def _recovery_codes_page(request: HttpRequest, codes: list[str], *, enabled: bool) -> HttpResponse:
    # Shown in this response only: never stored in plaintext, never put in a URL.
    context = {
        "codes": codes,
        "enabled": enabled,
        "next": _local_url(request, request.POST.get("next")),
    }
    return render(request, "accounts/recovery_codes.html", context)


def _reauthenticated(request: HttpRequest, form: ReauthenticationForm) -> bool:
    user = _signed_in_user(request)
    if not form.is_valid():
        return False
    problem = authflow.check_current_password(user, form.cleaned_data["password"])
    add_check_error(form, "password", problem, WRONG_PASSWORD)
    if problem is None:
        problem = authflow.check_second_factor(user, form.cleaned_data["code"])
        add_check_error(form, "code", problem, INVALID_CODE)
    return problem is None


@login_required
@sensitive_post_parameters()
@never_cache
@require_POST
def two_factor_disable_view(request: HttpRequest) -> HttpResponse:
    form = ReauthenticationForm(request.POST, prefix=DISABLE_PREFIX)
    if not _reauthenticated(request, form):
        return _two_factor_page(request, status=400, disable_form=form)
    with contextlib.suppress(TwoFactorError):  # already off: nothing to do
        totp_disable(user=_signed_in_user(request))
    request.session[sessions.MFA_METHOD] = "none"
    messages.success(request, _("Two-factor sign-in is off."))
    return redirect("security:index")


@login_required
@sensitive_post_parameters()
@never_cache
@require_POST
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    form = ReauthenticationForm(request.POST, prefix=CODES_PREFIX)
    if not _reauthenticated(request, form):
        return _two_factor_page(request, status=400, codes_form=form)
    try:
        codes = recovery_codes_regenerate(user=_signed_in_user(request))
    except TwoFactorError:
        return redirect("security:two_factor")
    return _recovery_codes_page(request, codes, enabled=False)


# --- Workspace policy -----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def workspace_two_factor_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The owner's switch: require two-factor of every member of one workspace."""
    user = _signed_in_user(request)
    membership = membership_for_slug(user=user, slug=slug)
    if membership is None:
        raise Http404  # the same answer as for a workspace that does not exist
    require_capability(membership.role, Capability.SECURITY_SETTINGS)
    if request.method != "POST":
        return redirect("security:index")
    form = WorkspaceTwoFactorForm(request.POST)
    form.is_valid()
    required = bool(form.cleaned_data.get("required"))
    actor = Actor.user(user.pk, role=membership.role)
    try:
        changed = workspace_two_factor_require(
            workspace=membership.workspace, actor=actor, required=required
        )
    except TwoFactorError:
        messages.error(request, _("Turn on two-factor sign-in for your own account first."))
        return redirect("security:index")
    if changed and required:
        messages.success(request, _("Members of this workspace now need two-factor sign-in."))
    elif changed:
        messages.success(request, _("Two-factor sign-in is no longer required in this workspace."))
    return redirect("security:index")


@login_required
@require_http_methods(["GET", "POST"])
def workspace_member_unlock_view(
    request: HttpRequest, slug: str, user_id: uuid.UUID
) -> HttpResponse:
    """The owner ends a member's sign-in lock from the security page."""
    user = _signed_in_user(request)
    membership = membership_for_slug(user=user, slug=slug)
    if membership is None:
        raise Http404  # the same answer as for a workspace that does not exist
    require_capability(membership.role, Capability.SECURITY_SETTINGS)
    member = workspace_member(workspace=membership.workspace, user_id=user_id)
    if member is None:
        raise Http404
    if request.method != "POST":
        return redirect("security:index")
    member_sign_in_unlock(
        workspace=membership.workspace,
        actor=Actor.user(user.pk, role=membership.role),
        member=member,
    )
    messages.success(request, _("The sign-in lock has ended. They can sign in again now."))
    return redirect("security:index")
