"""The "Add number" form. Secrets are write-only: their inputs never render a value back,
not even after a validation error."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from heroshhi.core.forms import PlainTextForm
from heroshhi.whatsapp.models import WhatsAppChannel


def _secret_input() -> forms.PasswordInput:
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"})


class ChannelCreateForm(PlainTextForm):
    """Only shapes the input: ``channel_create`` checks every field and reports all its
    errors at once, so nothing is required here."""

    label = forms.CharField(
        label=_("Label"),
        required=False,
        max_length=60,
        help_text=_("A name your team recognises, e.g. “Sales line”."),
    )
    display_phone_number = forms.CharField(
        required=False,
        label=_("Business number"),
        max_length=20,
        help_text=_("The number customers see, e.g. +91 98765 43210."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    phone_number_id = forms.CharField(
        required=False,
        label=_("Phone number ID"),
        max_length=32,
        help_text=_("WhatsApp Manager → API setup."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    waba_id = forms.CharField(
        required=False,
        label=_("WhatsApp Business Account ID"),
        max_length=32,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    access_token = forms.CharField(
        required=False,
        label=_("Access token"),
        max_length=2048,
        help_text=_("A system user's permanent token. Stored encrypted, never shown again."),
        widget=_secret_input(),
    )
    app_secret = forms.CharField(
        required=False,
        label=_("App secret"),
        max_length=2048,
        help_text=_("Used to check that webhooks really come from Meta."),
        widget=_secret_input(),
    )
    verify_token = forms.CharField(
        required=False,
        label=_("Verify token"),
        max_length=2048,
        help_text=_("Any phrase you choose; type the same one in Meta's webhook settings."),
        widget=_secret_input(),
    )
    throughput_tier = forms.TypedChoiceField(
        label=_("Throughput tier"),
        choices=WhatsAppChannel.Tier.choices,
        coerce=int,
        initial=WhatsAppChannel.Tier.STANDARD,
    )


class ChannelDeleteForm(PlainTextForm):
    confirm = forms.BooleanField(
        label=_("Yes, remove this number. Conversations stay; nothing more is sent or received."),
        error_messages={"required": _("Tick the box to confirm.")},
    )


class OptOutKeywordsForm(PlainTextForm):
    """The workspace's own keywords, one per line, added to the built-in lists."""

    extra_optout_keywords = forms.CharField(
        label=_("Extra opt-out keywords"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line. A message that is exactly one of these opts the contact out."),
    )
    extra_optin_keywords = forms.CharField(
        label=_("Extra re-subscribe keywords"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One per line. A message that is exactly one of these opts them back in."),
    )

    def lines(self, field: str) -> list[str]:
        return [line for line in self.cleaned_data[field].splitlines() if line.strip()]
