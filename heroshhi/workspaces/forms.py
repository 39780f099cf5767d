"""Forms for signup, workspace creation, the team page and invitation acceptance.

They check what a person can fix inline (a taken address, a weak password); the services
enforce every rule again, whoever calls them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import (
    password_validators_help_texts,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _

from heroshhi.accounts.models import User
from heroshhi.core.forms import PlainTextForm
from heroshhi.workspaces.labels import role_choices
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

EMAIL_TAKEN = _(
    "An account with this e-mail address already exists. Sign in instead; you can create "
    "a new workspace from there."
)
PASSWORDS_DIFFER = _("The two passwords do not match.")
# Plain text (the field component escapes help text), read when a form is rendered.
PASSWORD_HELP = lazy(lambda: " ".join(password_validators_help_texts()), str)()


def _email_input() -> forms.EmailInput:
    return forms.EmailInput(
        attrs={"autocomplete": "email", "autocapitalize": "none", "spellcheck": "false"}
    )


def _new_password_input() -> forms.PasswordInput:
    return forms.PasswordInput(attrs={"autocomplete": "new-password"})


def _check_password(form: forms.Form, *, email: str, full_name: str) -> None:
    """Run the configured password validators and show their messages on the field."""
    password = form.cleaned_data.get("password")
    if not password:
        return
    try:
        validate_password(password, user=User(email=email, full_name=full_name))
    except ValidationError as exc:
        form.add_error("password", exc)


class SignupForm(PlainTextForm):
    business_name = forms.CharField(
        label=_("Business name"),
        max_length=Workspace._meta.get_field("name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    full_name = forms.CharField(
        label=_("Your name"),
        max_length=User._meta.get_field("full_name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(label=_("E-mail address"), max_length=254, widget=_email_input())
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=_new_password_input(),
        help_text=PASSWORD_HELP,
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError(EMAIL_TAKEN, code="email_taken")
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        _check_password(
            self, email=cleaned.get("email", ""), full_name=cleaned.get("full_name", "")
        )
        return cleaned


class WorkspaceStartForm(PlainTextForm):
    name = forms.CharField(
        label=_("Business name"),
        max_length=Workspace._meta.get_field("name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )


class InviteForm(PlainTextForm):
    email = forms.EmailField(label=_("E-mail address"), max_length=254, widget=_email_input())
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, grantable: frozenset[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = role_choices(grantable)
        role_field.initial = Role.SALES.value


class RoleForm(PlainTextForm):
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, grantable: frozenset[Role], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)
        role_field.choices = role_choices(grantable)


class RemoveMemberForm(PlainTextForm):
    """Where the removed member's leads go: another member, or the unassigned pool."""

    reassign_to = forms.ChoiceField(label=_("Hand their leads to"), required=False)

    def __init__(self, *args: Any, others: list[Membership], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.others = {str(m.pk): m for m in others}
        field = self.fields["reassign_to"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", _("Nobody: back to the unassigned pool")),
            *[(pk, m.user.full_name or m.user.email) for pk, m in self.others.items()],
        ]

    def reassign_target(self) -> Membership | None:
        return self.others.get(self.cleaned_data.get("reassign_to") or "")


class InvitationAccountForm(PlainTextForm):
    """A new person's account, for the address the invitation was sent to."""

    full_name = forms.CharField(
        label=_("Your name"),
        max_length=User._meta.get_field("full_name").max_length,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        label=_("Choose a password"),
        strip=False,
        widget=_new_password_input(),
        help_text=PASSWORD_HELP,
    )
    password_again = forms.CharField(
        label=_("Password again"), strip=False, widget=_new_password_input()
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password, again = cleaned.get("password"), cleaned.get("password_again")
        if password and again and password != again:
            self.add_error("password_again", PASSWORDS_DIFFER)
        _check_password(self, email=self.email, full_name=cleaned.get("full_name", ""))
        return cleaned
