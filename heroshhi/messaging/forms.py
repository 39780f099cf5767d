"""HTML forms of the inbox and the lead page's messaging panel. They shape input; the
sending and logging services hold the rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from heroshhi.core.forms import PlainTextForm
from heroshhi.core.instants import past_instant_problem
from heroshhi.leads.forms import member_label
from heroshhi.leads.validation import NOTE_MAX
from heroshhi.messaging.calls import CALL_MAX_AGE_DAYS
from heroshhi.messaging.models import Call
from heroshhi.workspaces.models import Membership

TEXT_MAX = 4096  # WhatsApp's limit for a text message body
QUICK_REPLIES_MAX = 3  # reply buttons WhatsApp allows on one message
QUICK_REPLY_MAX = 20  # characters in a reply button's title
VARIABLE_MAX = 1024
CALL_NOTES_MAX = 2000
_DURATION = re.compile(r"^(?:(\d{1,3}):)?(\d{1,4})(?::(\d{1,2}))?$")


class ComposerForm(PlainTextForm):
    text = forms.CharField(
        label=_("Message"),
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
    )
    quick_reply_1 = forms.CharField(label=_("Reply button 1"), required=False)
    quick_reply_2 = forms.CharField(label=_("Reply button 2"), required=False)
    quick_reply_3 = forms.CharField(label=_("Reply button 3"), required=False)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for n in range(1, QUICK_REPLIES_MAX + 1):
            field = self.fields[f"quick_reply_{n}"]
            field.max_length = QUICK_REPLY_MAX  # type: ignore[attr-defined]
            field.widget.attrs["maxlength"] = str(QUICK_REPLY_MAX)

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if not text.strip():
            raise ValidationError(_("Write a message."))
        return text

    def quick_replies(self) -> list[str] | None:
        titles = [
            self.cleaned_data[f"quick_reply_{n}"].strip()
            for n in range(1, QUICK_REPLIES_MAX + 1)
            if self.cleaned_data.get(f"quick_reply_{n}", "").strip()
        ]
        if len({title.casefold() for title in titles}) != len(titles):
            raise ValidationError({"quick_reply_1": [_("Give each reply button its own title.")]})
        return titles or None


class InternalNoteForm(PlainTextForm):
    body = forms.CharField(
        label=_("Internal note"),
        help_text=_("Only your team sees it; it is also kept on the lead."),
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AssignForm(PlainTextForm):
    member = forms.ChoiceField(label=_("Assign to"), required=False)

    def __init__(self, *args: object, members: Sequence[Membership], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["member"].choices = [  # type: ignore[attr-defined]
            ("", _("Unassigned")),
            *((str(m.pk), member_label(m)) for m in members),
        ]


def parse_duration(value: str) -> int:
    """Seconds from "5" (minutes), "5:30" (minutes:seconds) or "1:05:30" (hours too)."""
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        raise ValidationError(_("Write minutes, or minutes:seconds (for example 4:30)."))
    first, middle, last = match.groups()
    if first is None:
        hours, minutes, seconds = 0, int(middle), int(last or 0)  # a bare number is minutes
    elif last is None:
        hours, minutes, seconds = 0, int(first), int(middle)
    else:
        hours, minutes, seconds = int(first), int(middle), int(last)
    if seconds >= 60 or (hours and minutes >= 60):
        raise ValidationError(_("Write minutes, or minutes:seconds (for example 4:30)."))
    total = hours * 3600 + minutes * 60 + seconds
    if total > 24 * 3600:
        raise ValidationError(_("A call can last at most 24 hours."))
    return total


class CallLogForm(PlainTextForm):
    direction = forms.ChoiceField(
        label=_("Direction"), choices=Call.Direction.choices, initial=Call.Direction.OUTBOUND
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[c for c in Call.Outcome.choices if c[0] != Call.Outcome.IN_PROGRESS],
        initial=Call.Outcome.CONNECTED,
    )
    started_at = forms.DateTimeField(
        label=_("Started at"),
        help_text=format_lazy(_("Indian time, at most {days} days ago."), days=CALL_MAX_AGE_DAYS),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    duration = forms.CharField(
        label=_("Duration"),
        required=False,
        max_length=12,
        help_text=_("Minutes, or minutes:seconds."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    notes = forms.CharField(
        label=_("Call notes"),
        required=False,
        max_length=CALL_NOTES_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    recording_url = forms.URLField(
        label=_("Recording link"), required=False, max_length=500, assume_scheme="https"
    )

    def clean_started_at(self) -> datetime:
        started: datetime = self.cleaned_data["started_at"]
        if problem := past_instant_problem(started, max_age_days=CALL_MAX_AGE_DAYS):
            raise ValidationError(problem)
        return started

    def clean_duration(self) -> int:
        value: str = self.cleaned_data.get("duration") or ""
        return parse_duration(value) if value.strip() else 0
