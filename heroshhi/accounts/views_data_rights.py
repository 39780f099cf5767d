"""The signed-in person's own data: download a copy, delete the account. Thin: the work is
in ``data_rights``. ``IdentityForm`` and ``identity_confirmed`` are the re-authentication
step shared with the workspace's danger zone (termination)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from heroshhi.accounts import authflow, data_rights
from heroshhi.accounts.forms import INVALID_CODE, WRONG_PASSWORD, add_check_error
from heroshhi.accounts.models import User
from heroshhi.accounts.selectors import user_has_two_factor
from heroshhi.core.forms import PlainTextForm

CODE_NEEDED = gettext_lazy("Enter a code from your authenticator app (or a recovery code).")


class IdentityForm(PlainTextForm):
    """The password again, and a second-factor code when the account has two-factor."""

    password = forms.CharField(
        label=gettext_lazy("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    code = forms.CharField(
        label=gettext_lazy("Authentication code"),
        required=False,
        max_length=32,
        help_text=gettext_lazy("Only if your account uses two-factor sign-in."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )


def identity_confirmed(user: User, form: IdentityForm) -> bool:
    """Check the form's password (and code); wrong answers count towards the same
    cool-off as the security page's re-authentication."""
    if not form.is_valid():
        return False
    problem = authflow.check_current_password(user, form.cleaned_data["password"])
    add_check_error(form, "password", problem, WRONG_PASSWORD)
    if problem is None and user_has_two_factor(user=user):
        code = form.cleaned_data["code"].strip()
        if not code:
            form.add_error("code", CODE_NEEDED)
            return False
        problem = authflow.check_second_factor(user, code)
        add_check_error(form, "code", problem, INVALID_CODE)
    return problem is None


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required ran first
    return user


def _page(
    request: HttpRequest, *, form: IdentityForm | None = None, status: int = 200
) -> HttpResponse:
    user = _user(request)
    context = {
        "delete_form": form or IdentityForm(),
        "blockers": data_rights.account_deletion_blockers(user=user),
        "has_two_factor": user_has_two_factor(user=user),
    }
    return render(request, "accounts/my_data.html", context, status=status)


@login_required
@never_cache
@require_GET
def my_data_view(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@require_POST
def my_data_download_view(request: HttpRequest) -> StreamingHttpResponse:
    user = _user(request)
    data_rights.user_data_export_record(user=user)
    response = StreamingHttpResponse(
        data_rights.user_data_export(user=user), content_type="application/json; charset=utf-8"
    )
    stamp = timezone.localdate().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="my-heroshhi-data-{stamp}.json"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@sensitive_post_parameters()
@never_cache
@require_POST
def account_delete_view(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = IdentityForm(request.POST)
    if not identity_confirmed(user, form):
        return _page(request, form=form, status=400)
    try:
        data_rights.user_delete(user=user)
    except data_rights.AccountDeletionBlocked as blocked:
        messages.error(request, str(blocked))
        return _page(request, status=409)
    logout(request)
    messages.success(request, _("Your account has been deleted."))
    return redirect(settings.LOGOUT_REDIRECT_URL)
