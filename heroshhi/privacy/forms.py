"""HTML forms of the privacy pages. They shape input; the services do the real checks."""

from __future__ import annotations

from collections.abc import Sequence

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from heroshhi.core.forms import PlainTextForm
from heroshhi.leads.validation import NAME_MAX
from heroshhi.privacy.models import ConsentRecord, Incident, PrivacyRequest
from heroshhi.privacy.services.holidays import HOLIDAY_NAME_MAX
from heroshhi.privacy.services.requests import EVIDENCE_MAX, MESSAGE_MAX, RECEIVED_MAX_AGE_DAYS

_ANY = [("", _("Any"))]


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's field errors next to the matching inputs, the rest on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


class RequestFilterForm(PlainTextForm):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=_ANY + PrivacyRequest.Status.choices
    )
    type = forms.ChoiceField(
        label=_("Type"), required=False, choices=_ANY + PrivacyRequest.Type.choices
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)


class RequestCreateForm(PlainTextForm):
    lead = forms.UUIDField(
        label=_("Lead id"),
        help_text=_("Open the lead and use “New privacy request” to fill this in."),
    )
    type = forms.ChoiceField(label=_("The person asks for"), choices=PrivacyRequest.Type.choices)
    scope = forms.ChoiceField(
        label=_("Objection to"),
        required=False,
        choices=[("", _("(objections only)")), *PrivacyRequest.Scope.choices],
    )
    channel = forms.ChoiceField(
        label=_("Received by"),
        choices=[
            (PrivacyRequest.Channel.DASHBOARD.value, _("In person or by phone")),
            (PrivacyRequest.Channel.EMAIL.value, PrivacyRequest.Channel.EMAIL.label),
        ],
    )
    received_at = forms.DateTimeField(
        label=_("Received at"),
        required=False,
        help_text=format_lazy(
            _(
                "Indian time, at most {days} days ago. Leave empty for now. The request is due "
                "2 business days later."
            ),
            days=RECEIVED_MAX_AGE_DAYS,
        ),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    evidence = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=EVIDENCE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("How the request arrived and how you checked who is asking."),
    )


class LinkLeadForm(PlainTextForm):
    lead = forms.UUIDField(label=_("Lead id"))


class ExportForm(PlainTextForm):
    format = forms.ChoiceField(
        label=_("Format"),
        choices=[("zip", _("Zip of JSON and CSV files")), ("json", _("JSON"))],
    )


class EraseConfirmForm(PlainTextForm):
    confirm = forms.BooleanField(
        label=_("I understand the lead and everything about them is deleted now, for good."),
    )


class ObjectionForm(PlainTextForm):
    scope = forms.ChoiceField(label=_("Objection to"), choices=PrivacyRequest.Scope.choices)


class CompleteForm(PlainTextForm):
    evidence = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=EVIDENCE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What was sent or done, and how the person was told."),
    )

    def __init__(
        self, *args: object, rectifiable: Sequence[tuple[str, str]] = (), **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if rectifiable:
            self.fields["rectified_fields"] = forms.MultipleChoiceField(
                label=_("Fields corrected"),
                choices=list(rectifiable),
                widget=forms.CheckboxSelectMultiple,
            )


class RejectForm(PlainTextForm):
    evidence = forms.CharField(
        label=_("Why the request is refused"),
        max_length=EVIDENCE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class HolidayForm(PlainTextForm):
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(label=_("Name"), max_length=HOLIDAY_NAME_MAX)


class PublicRequestForm(PlainTextForm):
    """The public form: what we need to find the person's data and to answer them."""

    name = forms.CharField(label=_("Your name"), max_length=NAME_MAX)
    email = forms.CharField(label=_("E-mail"), required=False, max_length=254)
    phone = forms.CharField(
        label=_("Phone (WhatsApp)"),
        required=False,
        max_length=40,
        help_text=_("Give the e-mail or phone number the business knows you by."),
    )
    type = forms.ChoiceField(
        label=_("What would you like?"),
        choices=[
            (PrivacyRequest.Type.ACCESS.value, _("A copy of the data you hold about me")),
            (PrivacyRequest.Type.PORTABILITY.value, _("My data in a machine-readable file")),
            (PrivacyRequest.Type.RECTIFICATION.value, _("Correct data about me")),
            (PrivacyRequest.Type.ERASURE.value, _("Delete the data about me")),
            (PrivacyRequest.Type.RESTRICTION.value, _("Stop using my data for now")),
            (PrivacyRequest.Type.OBJECTION.value, _("Stop marketing messages or analytics")),
        ],
    )
    scope = forms.ChoiceField(
        label=_("If you object: to what?"),
        required=False,
        choices=[
            ("", _("(only for objections)")),
            (PrivacyRequest.Scope.MARKETING.value, _("Marketing messages")),
            (PrivacyRequest.Scope.ANALYTICS.value, _("Use in analytics")),
        ],
    )
    message = forms.CharField(
        label=_("Anything else we should know"),
        required=False,
        max_length=MESSAGE_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class RetentionPolicyForm(PlainTextForm):
    """Empty fields keep data; the service checks the ranges."""

    delete_messages_after_days = forms.IntegerField(
        label=_("Delete messages older than (days)"),
        required=False,
        help_text=_("From 30 to 3650 days. Empty: keep messages as long as their lead."),
    )
    trash_inactive_leads_after_months = forms.IntegerField(
        label=_("Move leads with no activity to the trash after (months)"),
        required=False,
        help_text=_(
            "From 3 to 120 months. They can be restored for 30 days, then they are deleted "
            "for good. Empty: keep them."
        ),
    )


class ConsentForm(PlainTextForm):
    action = forms.ChoiceField(
        choices=[("grant", _("Record consent")), ("withdraw", _("Withdraw consent"))]
    )
    source = forms.ChoiceField(
        label=_("How they agreed"),
        required=False,
        choices=[
            (value, label)
            for value, label in ConsentRecord.Source.choices
            if value != ConsentRecord.Source.API
        ],
    )
    notice_version = forms.CharField(
        label=_("Wording version"),
        required=False,
        max_length=40,
        help_text=_("Which consent text they saw, such as 2026-02."),
    )


_LOCAL_TIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class IncidentForm(PlainTextForm):
    title = forms.CharField(
        label=_("Title"),
        max_length=160,
        help_text=_("Owners of affected workspaces see it: no names or numbers."),
    )
    description = forms.CharField(
        label=_("What happened"),
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Stored sealed; only platform staff can read it."),
    )
    detected_at = forms.DateTimeField(
        label=_("Detected at"),
        widget=_LOCAL_TIME,
        help_text=_("Indian time. The 6-hour and 72-hour clocks start here."),
    )
    severity = forms.ChoiceField(label=_("Severity"), choices=Incident.Severity.choices)
    personal_data_involved = forms.BooleanField(
        label=_("Personal data may be involved"), required=False, initial=True
    )
    exposure_start = forms.DateTimeField(
        label=_("Exposure started"), required=False, widget=_LOCAL_TIME
    )
    exposure_end = forms.DateTimeField(
        label=_("Exposure ended"), required=False, widget=_LOCAL_TIME
    )
    workspaces = forms.CharField(
        label=_("Affected workspaces (slugs, comma-separated)"), required=False, max_length=2000
    )


class IncidentUpdateForm(PlainTextForm):
    status = forms.ChoiceField(label=_("Status"), choices=Incident.Status.choices)
    workspaces = forms.CharField(
        label=_("Affected workspaces (slugs, comma-separated)"), required=False, max_length=2000
    )


class NoticeSentForm(PlainTextForm):
    reference = forms.CharField(
        label=_("Sent to / acknowledgement number"),
        required=False,
        max_length=120,
    )
