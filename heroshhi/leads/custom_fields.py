"""Workspace-defined lead fields: their definitions (owners and managers configure them)
and the validation of the values leads hold for them.

Values live in ``Lead.custom_values`` (encrypted), keyed by the field key, as JSON types:
text as a string, a number as a decimal string ("1250.5"), a date as "YYYY-MM-DD", a
choice as one of the field's options. Error messages and audit metadata name the field
key, never a value.

"Required" binds people entering a lead: the lead forms always, and API or import callers
when they send custom fields at all. Leads captured by machines (WhatsApp, ad forms) are
never lost for a missing custom value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.core.text import CONTROL_CHARACTER_MESSAGE, has_control_character
from heroshhi.leads.models import CustomField
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

FIELDS_MAX = 50
LABEL_MAX = 60
TEXT_MAX = 500
CHOICES_MAX = 50
CHOICE_MAX = 60
NUMBER_LIMIT = Decimal("1e15")
NUMBER_DECIMALS_MAX = 6
KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Keys that would read as a built-in lead column in exports and imports.
RESERVED_KEYS = frozenset(
    {
        "id",
        "name",
        "phone",
        "email",
        "description",
        "source",
        "stage",
        "owner",
        "tags",
        "deal_value",
        "created_at",
        "updated_at",
    }
)
FORM_PREFIX = "cf_"
ERROR_PREFIX = "custom_fields."


def error_key(key: str) -> str:
    """The field-error name of a custom value: ``custom_fields.<key>``."""
    return ERROR_PREFIX + key


def custom_fields_list(*, workspace: Workspace, archived: bool = False) -> list[CustomField]:
    """The workspace's active fields in display order (or only the archived ones)."""
    with workspace_scope(workspace):
        return list(
            CustomField.objects.filter(archived_at__isnull=not archived).order_by(
                "position", "created_at", "id"
            )
        )


def access_custom_field(*, workspace: Workspace, actor_role: str, uid: object) -> CustomField:
    """One of the workspace's fields for someone who may configure the pipeline, or 404."""
    require_capability(actor_role, Capability.PIPELINE_CONFIGURE)
    with workspace_scope(workspace):
        return get_in_scope_or_404(CustomField.objects.all(), uid)


def custom_field_labels(*, workspace: Workspace) -> dict[str, str]:
    """Label by timeline name ("custom:<key>") for every field, archived ones included."""
    with workspace_scope(workspace):
        rows = CustomField.objects.values_list("key", "label")
        return {f"custom:{key}": label for key, label in rows}


def visible_values(lead_values: Mapping[str, Any] | None, fields: Iterable[CustomField]) -> dict:
    """A lead's values for the given (active) fields; archived or unknown keys stay hidden."""
    stored = lead_values or {}
    return {field.key: stored[field.key] for field in fields if field.key in stored}


def field_error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def clean_label(value: object) -> str:
    if isinstance(value, str) and has_control_character(value):
        raise field_error("label", str(CONTROL_CHARACTER_MESSAGE))
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text:
        raise field_error("label", _("Give the field a label."))
    if len(text) > LABEL_MAX:
        raise field_error("label", _("Use at most %(max)d characters.") % {"max": LABEL_MAX})
    return text


def key_from_label(label: str) -> str:
    """A slug for a label: "Budget (₹)" → "budget"; "" when nothing usable is left."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    slug = slug.lstrip("0123456789_")
    return slug[:40].rstrip("_")


def clean_key(value: object) -> str:
    if not isinstance(value, str) or not KEY_PATTERN.fullmatch(value):
        raise field_error(
            "key",
            _("Use 1 to 40 lower-case letters, digits or underscores, starting with a letter."),
        )
    if value in RESERVED_KEYS:
        raise field_error("key", _("This key is taken by a built-in lead field."))
    if re.search(r"\d{5}", value):
        # Keys go into audit metadata, which refuses anything that reads like a phone number.
        raise field_error("key", _("Use at most four digits in a row."))
    return value


def clean_kind(value: object) -> str:
    if value not in CustomField.Kind.values:
        raise field_error("kind", _("Choose text, number, date or single choice."))
    return str(value)


def clean_choices(value: object, *, kind: str) -> list[str]:
    """The options of a choice field: distinct, trimmed, at least one. Others have none."""
    if kind != CustomField.Kind.CHOICE:
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list | tuple):
        raise field_error("choices", _("Give the options as a list."))
    options: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise field_error("choices", _("Each option must be text."))
        if has_control_character(item):
            raise field_error("choices", str(CONTROL_CHARACTER_MESSAGE))
        option = " ".join(item.split())
        if not option:
            continue
        if len(option) > CHOICE_MAX:
            raise field_error(
                "choices", _("An option may have at most %(max)d characters.") % {"max": CHOICE_MAX}
            )
        if option.casefold() not in {o.casefold() for o in options}:
            options.append(option)
    if not options:
        raise field_error("choices", _("Give at least one option, one per line."))
    if len(options) > CHOICES_MAX:
        raise field_error("choices", _("Use at most %(max)d options.") % {"max": CHOICES_MAX})
    return options


def _clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        raise ValueError(_("Enter text."))
    if has_control_character(value):
        raise ValueError(str(CONTROL_CHARACTER_MESSAGE))
    text = value.strip()
    if len(text) > TEXT_MAX:
        raise ValueError(_("Use at most %(max)d characters.") % {"max": TEXT_MAX})
    return text or None


def _clean_number(value: object) -> str | None:
    if isinstance(value, str):
        value = value.strip().replace(",", "")
        if not value:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(_("Enter a number."))
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if not number.is_finite():
        raise ValueError(_("Enter a number."))
    if abs(number) >= NUMBER_LIMIT:
        raise ValueError(_("Enter a smaller number."))
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -NUMBER_DECIMALS_MAX:
        raise ValueError(_("Use at most %(max)d decimal places.") % {"max": NUMBER_DECIMALS_MAX})
    # "1250.50" → "1250.5", "1E+3" → "1000": one spelling per number.
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _clean_date(value: object) -> str | None:
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(_("Enter a date as YYYY-MM-DD."))
    text = value.strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None


def _clean_choice(value: object, options: list[str]) -> str | None:
    if not isinstance(value, str):
        raise ValueError(_("Choose one of the options."))
    text = " ".join(value.split())
    if not text:
        return None
    for option in options:
        if option.casefold() == text.casefold():
            return option
    raise ValueError(_("Choose one of the options."))


def clean_value(field: CustomField, value: object) -> str | None:
    """The stored form of one value, None for "no value"; ValueError with a message."""
    if value is None:
        return None
    if field.kind == CustomField.Kind.TEXT:
        return _clean_text(value)
    if field.kind == CustomField.Kind.NUMBER:
        return _clean_number(value)
    if field.kind == CustomField.Kind.DATE:
        return _clean_date(value)
    return _clean_choice(value, list(field.choices))


def active_fields_by_key(*, workspace: Workspace) -> dict[str, CustomField]:
    with workspace_scope(workspace):
        return {f.key: f for f in CustomField.objects.filter(archived_at__isnull=True)}


def clean_custom_values(
    *,
    workspace: Workspace,
    values: Mapping[str, object],
    partial: bool,
    fields: Mapping[str, CustomField] | None = None,
) -> dict[str, str | None]:
    """Validated values for the workspace's active fields.

    ``partial=False`` (a new lead): the result holds only filled values, and every required
    field must be among them. ``partial=True`` (an update): the result holds every given key,
    None meaning "clear it"; a required field cannot be cleared. Errors are keyed
    ``custom_fields.<key>``; a key that is not a plain word is reported as ``custom_fields``.
    ``fields``: the active fields by key when the caller has read them already (a batch).
    """
    if not isinstance(values, Mapping):
        raise field_error("custom_fields", _("Give custom fields as an object."))
    if fields is None:
        fields = active_fields_by_key(workspace=workspace)
    cleaned: dict[str, str | None] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            name = (
                error_key(key)
                if isinstance(key, str) and KEY_PATTERN.fullmatch(key)
                else "custom_fields"
            )
            errors.setdefault(name, []).append(_("There is no such custom field."))
            continue
        try:
            normalised = clean_value(field, value)
        except ValueError as exc:
            errors.setdefault(error_key(key), []).append(str(exc))
            continue
        if normalised is None and field.required and partial:
            errors.setdefault(error_key(key), []).append(_("This field is required."))
            continue
        if normalised is not None or partial:
            cleaned[key] = normalised
    if not partial:
        for key, field in fields.items():
            if field.required and cleaned.get(key) is None and error_key(key) not in errors:
                errors.setdefault(error_key(key), []).append(_("This field is required."))
    if errors:
        raise ValidationError(errors)
    return cleaned
