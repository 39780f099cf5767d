"""Sign-in form: e-mail and password, one message for every kind of failure."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

# The same words whether the address is unknown, the password wrong or the account
# disabled, so the form never tells anyone which addresses have accounts.
INVALID_LOGIN = _("That e-mail address and password do not match an active account.")


class EmailAuthenticationForm(AuthenticationForm):
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
