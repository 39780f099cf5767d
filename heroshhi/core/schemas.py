"""The base of every API input schema: the plain-text rule on every field (ADR 0016)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from ninja import Schema
from pydantic import ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from heroshhi.core.text import (
    CONTROL_CHARACTER_CODE,
    CONTROL_CHARACTER_MESSAGE,
    control_character_paths,
)

# A UUID as text in any form uuid.UUID reads (braces, "urn:uuid:"), with room to spare.
ID_TEXT_MAX = 64


class InputSchema(Schema):
    """Unknown keys are refused rather than silently dropped, and no field, whatever its
    type (a list of tags, a dict of custom values), lets a control character through."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: Any) -> Any:
        if next(control_character_paths(value), None) is not None:
            raise PydanticCustomError(CONTROL_CHARACTER_CODE, str(CONTROL_CHARACTER_MESSAGE))
        return value


def column_max(model: type[Model], field: str) -> int:
    """A column's max_length, so a schema bounds a string exactly as the table does."""
    max_length = model._meta.get_field(field).max_length  # type: ignore[union-attr]
    assert max_length is not None, f"{model.__name__}.{field} has no max_length"
    return int(max_length)


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    """A schema's errors by dotted field name (``tags.1``), as the error envelope has them."""
    fields: dict[str, list[str]] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "request"
        fields.setdefault(name, []).append(error["msg"])
    return fields
