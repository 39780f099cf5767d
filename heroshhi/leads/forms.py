"""HTML forms. They shape input for the services, which do the real validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from heroshhi.core.forms import PlainTextForm
from heroshhi.leads.custom_fields import ERROR_PREFIX, FORM_PREFIX, TEXT_MAX
from heroshhi.leads.models import CustomField, Source, Stage, Tag
from heroshhi.leads.validation import (
    DESCRIPTION_MAX,
    NAME_MAX,
    NOTE_MAX,
    STAGE_NAME_MAX,
    TASK_TITLE_MAX,
)
from heroshhi.workspaces.models import Membership


def member_label(member: Membership) -> str:
    return member.user.full_name or member.user.email


def _stage_choices(stages: Sequence[Stage]) -> list[tuple[str, str]]:
    return [(str(stage.pk), stage.name) for stage in stages]


def _member_choices(members: Sequence[Membership]) -> list[tuple[str, object]]:
    return [("", _("Unassigned")), *((str(m.pk), member_label(m)) for m in members)]


def split_tags(value: str) -> list[str]:
    return [part for part in (piece.strip() for piece in value.split(",")) if part]


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's field errors next to the matching inputs, the rest on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        if field.startswith(ERROR_PREFIX):
            field = FORM_PREFIX + field.removeprefix(ERROR_PREFIX)
        form.add_error(field if field in form.fields else None, messages)


def _custom_form_field(field: CustomField, current: object) -> forms.Field:
    """An input for one custom field. Every kind is read as text here: the service checks
    the type, so the form and the API give the same messages."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": False,
        "help_text": _("Required.") if field.required else "",
    }
    if field.kind == CustomField.Kind.CHOICE:
        options = list(field.choices)
        if isinstance(current, str) and current and current not in options:
            options.append(current)  # an option removed since: keep showing what is stored
        widget: forms.Widget = forms.Select(
            choices=[("", _("—")), *((option, option) for option in options)]
        )
        return forms.CharField(widget=widget, **common)
    if field.kind == CustomField.Kind.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if field.kind == CustomField.Kind.NUMBER:
        return forms.CharField(
            max_length=40, widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common
        )
    return forms.CharField(max_length=TEXT_MAX, **common)


def custom_initial(values: Mapping[str, object] | None) -> dict[str, object]:
    """Form initial data for a lead's stored custom values."""
    return {FORM_PREFIX + key: value for key, value in (values or {}).items()}


def custom_values(form: forms.Form, fields: Sequence[CustomField]) -> dict[str, str | None]:
    """The posted custom values, key → text (None when left empty)."""
    return {field.key: form.cleaned_data.get(FORM_PREFIX + field.key) or None for field in fields}


class _PipelineFields(PlainTextForm):
    stage = forms.ChoiceField(label=_("Stage"), required=False)
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    tags = forms.CharField(
        label=_("Tags"), required=False, help_text=_("Separate tags with commas.")
    )
    deal_value = forms.DecimalField(
        label=_("Deal value (₹)"), required=False, min_value=0, max_digits=14, decimal_places=2
    )

    def __init__(
        self,
        *args: object,
        stages: Sequence[Stage],
        members: Sequence[Membership] | None,
        custom: Sequence[CustomField] = (),
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["stage"].choices = _stage_choices(stages)  # type: ignore[attr-defined]
        if members is None:
            # Not allowed to assign: the field is not offered at all.
            del self.fields["owner"]
        else:
            self.fields["owner"].choices = _member_choices(members)  # type: ignore[attr-defined]
        for field in custom:
            name = FORM_PREFIX + field.key
            self.fields[name] = _custom_form_field(field, self.initial.get(name))


class LeadCreateForm(_PipelineFields):
    name = forms.CharField(label=_("Name"), required=False, max_length=NAME_MAX)
    phone = forms.CharField(
        label=_("Phone"),
        required=False,
        max_length=40,
        help_text=_("Indian numbers with or without +91; other countries with their code."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    email = forms.CharField(
        label=_("E-mail"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    source = forms.ChoiceField(label=_("Source"), choices=Source.choices, initial=Source.MANUAL)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    field_order = ["name", "phone", "email", "source", "stage", "owner", "tags", "deal_value"]


class LeadEditForm(_PipelineFields):
    pass


class NoteForm(PlainTextForm):
    body = forms.CharField(
        label=_("Note"), max_length=NOTE_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )


class LeadFilterForm(PlainTextForm):
    """Renders the filter bar; the selector parses and checks the values itself."""

    q = forms.CharField(label=_("Search"), required=False)
    stage = forms.ChoiceField(label=_("Stage"), required=False)
    owner = forms.ChoiceField(label=_("Owner"), required=False)
    source = forms.ChoiceField(
        label=_("Source"), required=False, choices=[("", _("Any source")), *Source.choices]
    )
    tag = forms.ChoiceField(label=_("Tag"), required=False)
    has_overdue_task = forms.BooleanField(label=_("Has an overdue task"), required=False)
    opted_out = forms.BooleanField(label=_("Opted out of messages"), required=False)

    def __init__(
        self,
        *args: object,
        stages: Sequence[Stage],
        members: Sequence[Membership] | None,
        tags: Sequence[Tag],
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["stage"].choices = [("", _("Any stage")), *_stage_choices(stages)]  # type: ignore[attr-defined]
        self.fields["tag"].choices = [("", _("Any tag")), *((t.name, t.name) for t in tags)]  # type: ignore[attr-defined]
        if members is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].choices = [  # type: ignore[attr-defined]
                ("", _("Anyone")),
                ("unassigned", _("Unassigned")),
                *((str(m.pk), member_label(m)) for m in members),
            ]


class StageForm(PlainTextForm):
    name = forms.CharField(label=_("Stage name"), max_length=STAGE_NAME_MAX)
    kind = forms.ChoiceField(label=_("Kind"), choices=Stage.Kind.choices, initial=Stage.Kind.OPEN)


class TaskForm(PlainTextForm):
    title = forms.CharField(label=_("Task"), max_length=TASK_TITLE_MAX)
    due_at = forms.DateTimeField(
        label=_("Due"),
        help_text=_("Indian time."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class CustomFieldForm(PlainTextForm):
    """A new custom field. The service checks the key, the kind and the options."""

    label = forms.CharField(label=_("Label"), max_length=60)
    key = forms.CharField(
        label=_("Key"),
        required=False,
        max_length=40,
        help_text=_(
            "Used in the API, imports and exports; cannot change later. Leave empty "
            "to make one from the label."
        ),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=CustomField.Kind.choices)
    choices = forms.CharField(
        label=_("Options"),
        required=False,
        help_text=_("For a single-choice field: one option per line."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    required = forms.BooleanField(label=_("Required when adding or editing a lead"), required=False)


class CustomFieldEditForm(PlainTextForm):
    label = forms.CharField(label=_("Label"), max_length=60)
    choices = forms.CharField(
        label=_("Options (one per line)"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    required = forms.BooleanField(label=_("Required"), required=False)
