"""Sign-in, two-factor and password forms.

Sign-in failures share one message whatever the cause (unknown address, wrong password,
disabled account), so the form never tells anyone which addresses have accounts. A running
cool-off has its own message (how long to wait, or reset the password), the same for
every address too; the sign-in page shows it in place of the form's errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext_lazy as _

from heroshhi.accounts.lockout import RetryAfter
from heroshhi.accounts.models import ApiKey, User
from heroshhi.core.forms import PlainTextForm, PlainTextMixin
from heroshhi.workspaces.labels import role_choices
from heroshhi.workspaces.permissions import Role

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

INVALID_LOGIN = _("That e-mail address and password do not match an active account.")
INVALID_CODE = _("That code is not valid. Check your authenticator app and try again.")
TOO_MANY_ATTEMPTS = _("Too many attempts. Wait 15 minutes, then try again.")
WRONG_PASSWORD = _("That is not your current password.")

_CREDENTIAL_ERRORS = ("invalid_login", "inactive")


def _code_field(*, label: StrOrPromise, help_text: StrOrPromise = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        help_text=help_text,
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "characters",
                "spellcheck": "false",
            }
        ),
    )


def _password_field(*, label: StrOrPromise, autocomplete: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


class EmailAuthenticationForm(PlainTextMixin, AuthenticationForm):
    username = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(
            attrs={
                "autofocus": True,
                "autocomplete": "username",
                "autocapitalize": "none",
                "spellcheck": "false",
            }
        ),
    )

    error_messages = {"invalid_login": INVALID_LOGIN, "inactive": INVALID_LOGIN}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Set during a cool-off: the attempt is refused without checking the password.
        self.refuse = False
        # How long the running cool-off has left, for the page to say so.
        self.retry_after: RetryAfter | None = None

    def clean(self) -> dict[str, Any]:
        if self.refuse:
            if self.cleaned_data.get("username") is not None and self.cleaned_data.get("password"):
                raise self.get_invalid_login_error()
            return self.cleaned_data
        return super().clean()

    def is_credential_failure(self) -> bool:
        """Whether the form failed on the credentials (as opposed to a missing field)."""
        return any(self.has_error(NON_FIELD_ERRORS, code) for code in _CREDENTIAL_ERRORS)


class TwoFactorCodeForm(PlainTextForm):
    """The second sign-in step: a code from the app, or a recovery code."""

    code = _code_field(
        label=_("Authentication code"),
        help_text=_("The 6-digit code from your authenticator app, or one of your recovery codes."),
    )
    code.widget.attrs["autofocus"] = True


class TwoFactorConfirmForm(PlainTextForm):
    code = _code_field(
        label=_("Code from the app"),
        help_text=_("Enter the 6-digit code your authenticator app shows now."),
    )


class ReauthenticationForm(PlainTextForm):
    """Password and a second factor again, before two-factor settings change (ASVS V7.5.1).

    The checks live in ``authflow`` (they count towards a cool-off and use codes up);
    the view adds their errors to this form.
    """

    password = _password_field(label=_("Current password"), autocomplete="current-password")
    code = _code_field(
        label=_("Authentication code"),
        help_text=_("From your authenticator app, or one of your recovery codes."),
    )


NEW_PASSWORD_HELP = _(
    "At least 12 characters. Avoid common passwords and anything close to your name or "
    "e-mail address; a few unrelated words work well."
)


class _NewPasswordFields(PlainTextMixin, SetPasswordForm):
    """Django's new-password pair, with a short plain-text help (Django's is a list)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].help_text = NEW_PASSWORD_HELP
        self.fields["new_password2"].label = _("Repeat the new password")
        self.fields["new_password2"].help_text = ""


class PasswordChangeForm(_NewPasswordFields):
    """Current password, then the new one twice. The current password is checked by the
    view through ``authflow.check_current_password`` (with its cool-off)."""

    old_password = _password_field(label=_("Current password"), autocomplete="current-password")
    field_order = ["old_password", "new_password1", "new_password2"]


class PasswordResetRequestForm(PlainTextMixin, PasswordResetForm):
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )


class NewPasswordForm(_NewPasswordFields):
    """The reset link's form; saving goes through ``services.password_reset_complete``."""

    def save(self, commit: bool = True) -> User:
        raise NotImplementedError("Use services.password_reset_complete().")


class WorkspaceTwoFactorForm(PlainTextForm):
    required = forms.BooleanField(required=False)


def add_check_error(form: forms.Form, field: str, problem: str | None, wrong: StrOrPromise) -> None:
    """Put the error for an ``authflow`` check result on ``field``."""
    if problem == "locked":
        form.add_error(field, ValidationError(TOO_MANY_ATTEMPTS, code="locked"))
    elif problem is not None:
        form.add_error(field, ValidationError(wrong, code=problem))


ROLE_NOT_GRANTABLE = _("Choose one of the roles offered. A key cannot have more rights than you.")


class ApiKeyCreateForm(PlainTextForm):
    """A name to tell the key apart, and its role: only roles the member may grant."""

    name = forms.CharField(
        label=_("Name"),
        max_length=ApiKey._meta.get_field("name").max_length,
        help_text=_('What uses the key, e.g. "Website form" or "Zapier".'),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label=_("Role"),
        help_text=_("The key may do what a member with this role may do."),
        error_messages={"invalid_choice": ROLE_NOT_GRANTABLE},
    )

    def __init__(self, *args: Any, grantable: frozenset[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = role_choices(grantable)
        role_field.initial = Role.SALES.value
