"""The plain-text rule for every form (ADR 0016): each field refuses control characters
with a form error, whatever the view does with the value afterwards."""

from __future__ import annotations

from django import forms

from heroshhi.core.text import validate_plain_text


class PlainTextMixin:
    """Before a Django form base. The rule is added when the form is cleaned, so fields a
    form adds in its own ``__init__`` (custom lead fields) are covered too."""

    fields: dict[str, forms.Field]

    def full_clean(self) -> None:
        for field in self.fields.values():
            if validate_plain_text not in field.validators:
                field.validators.append(validate_plain_text)
        super().full_clean()  # type: ignore[misc]


class PlainTextForm(PlainTextMixin, forms.Form):
    pass
