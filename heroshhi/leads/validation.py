"""Allow-list validation of lead input. Messages name the field, never echo the value."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from heroshhi.core.crypto import BlindIndexValueError, normalise_email, normalise_phone
from heroshhi.core.text import CONTROL_CHARACTER_MESSAGE, has_control_character
from heroshhi.leads.models import Source


def collect(checks: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run every field check and raise one ValidationError holding all field errors."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, check in checks.items():
        try:
            cleaned[name] = check()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


NAME_MAX = 200
DESCRIPTION_MAX = 5000
NOTE_MAX = 5000
TAG_MAX = 40
TAGS_PER_LEAD_MAX = 20
DETAIL_VALUE_MAX = 500
DEAL_VALUE_MAX = Decimal("999999999999.99")
SOURCE_DETAIL_KEYS = frozenset(
    {
        "campaign_id",
        "form_id",
        "ad_id",
        "adset_id",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "referrer_url",
        # Click-to-WhatsApp ad referral of a contact's first message.
        "ctwa_clid",
        "source_id",
        "source_type",
        "source_url",
        "headline",
    }
)


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _text(value: object, *, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(field, _("Enter text."))
    if has_control_character(value):
        raise _invalid(field, str(CONTROL_CHARACTER_MESSAGE))
    text = value.strip()
    if len(text) > max_length:
        raise _invalid(field, _("Use at most %(max)d characters.") % {"max": max_length})
    return text or None


def clean_name(value: object) -> str | None:
    return _text(value, field="name", max_length=NAME_MAX)


def clean_description(value: object) -> str | None:
    return _text(value, field="description", max_length=DESCRIPTION_MAX)


def clean_note_body(value: object) -> str:
    body = _text(value, field="body", max_length=NOTE_MAX)
    if body is None:
        raise _invalid("body", _("Write something first."))
    return body


STAGE_NAME_MAX = 60
TASK_TITLE_MAX = 300


def clean_stage_name(value: object) -> str:
    name = _text(value, field="name", max_length=STAGE_NAME_MAX)
    if name is None:
        raise _invalid("name", _("Give the stage a name."))
    return " ".join(name.split())


def clean_task_title(value: object) -> str:
    title = _text(value, field="title", max_length=TASK_TITLE_MAX)
    if title is None:
        raise _invalid("title", _("Say what needs doing."))
    return title


def clean_phone(value: object) -> str | None:
    """E.164, read with India as the default region; ``None`` for an empty value."""
    text = _text(value, field="phone", max_length=40)
    if text is None:
        return None
    try:
        return normalise_phone(text)
    except BlindIndexValueError:
        raise _invalid("phone", _("Enter a valid phone number.")) from None


def clean_email(value: object) -> str | None:
    text = _text(value, field="email", max_length=254)
    if text is None:
        return None
    try:
        validate_email(text)
        return normalise_email(text)
    except (ValidationError, BlindIndexValueError):
        raise _invalid("email", _("Enter a valid e-mail address.")) from None


def clean_source(value: object) -> str:
    if not isinstance(value, str) or value not in Source.values:
        raise _invalid("source", _("Choose one of the known sources."))
    return value


def clean_source_details(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid("source_details", _("Give source details as an object."))
    cleaned: dict[str, str] = {}
    for key, item in value.items():
        if key not in SOURCE_DETAIL_KEYS:
            raise _invalid("source_details", _("Only known attribution keys are accepted."))
        if not isinstance(key, str) or has_control_character(key):
            raise _invalid("source_details", str(CONTROL_CHARACTER_MESSAGE))
        if isinstance(item, str) and has_control_character(item):
            raise _invalid("source_details", str(CONTROL_CHARACTER_MESSAGE))
        if not isinstance(item, str) or len(item) > DETAIL_VALUE_MAX:
            raise _invalid(
                "source_details",
                _("Attribution values must be text of at most %(max)d characters.")
                % {"max": DETAIL_VALUE_MAX},
            )
        cleaned[key] = item.strip()
    return cleaned


def clean_tags(value: Iterable[object]) -> list[str]:
    if isinstance(value, str | bytes | Mapping):
        raise _invalid("tags", _("Give tags as a list."))
    names: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise _invalid("tags", _("Each tag must be text."))
        if has_control_character(item):
            raise _invalid("tags", str(CONTROL_CHARACTER_MESSAGE))
        name = " ".join(item.split()).lower()
        if not name:
            continue
        if len(name) > TAG_MAX:
            raise _invalid(
                "tags", _("A tag may have at most %(max)d characters.") % {"max": TAG_MAX}
            )
        names.append(name)
    unique = list(dict.fromkeys(names))
    if len(unique) > TAGS_PER_LEAD_MAX:
        raise _invalid("tags", _("Use at most %(max)d tags.") % {"max": TAGS_PER_LEAD_MAX})
    return unique


def clean_deal_value(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str | float):
        raise _invalid("deal_value", _("Enter an amount in rupees."))
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise _invalid("deal_value", _("Enter an amount in rupees.")) from None
    if not amount.is_finite() or amount < 0 or amount > DEAL_VALUE_MAX:
        raise _invalid("deal_value", _("Enter an amount of zero or more."))
    return amount
