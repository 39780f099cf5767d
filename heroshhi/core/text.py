"""The one rule for plain text that comes in from outside (ADR 0016).

Tab, line feed and carriage return (a browser sends a textarea's line breaks as CR LF) are
the only control characters text may hold. The rest of C0 (NUL included), DEL, C1 and lone
surrogates are refused: PostgreSQL cannot store NUL, the others break CSV, terminals and
logs, and none of them is ever typed on purpose. The rule is the same for encrypted fields,
so what a field accepts never depends on how it is stored.

Every entry point calls this module: API schemas and query strings, forms, CSV import cells
and webhook fields. Messages name the field and never echo the value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_CHARACTER_MESSAGE = _("Remove the control characters (such as NUL) from this text.")
CONTROL_CHARACTER_CODE = "control_character"
# Deeper than any body or webhook this product reads; refusing early keeps a hostile body
# from reaching code that walks it recursively.
JSON_DEPTH_MAX = 32


def has_control_character(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def control_character_paths(value: Any, path: str = "") -> Iterator[str]:
    """Dotted paths (``items.0.tags.1``) of the strings in a JSON-like value, keys included,
    that hold a refused character. Iterative, so a deep value cannot exhaust the stack."""
    pending: list[tuple[str, Any]] = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            if has_control_character(item):
                yield where
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and has_control_character(key):
                    yield where or "request"
                    continue
                pending.append((child_path, child))
        elif isinstance(item, list | tuple):
            pending.extend(
                (f"{where}.{index}" if where else str(index), child)
                for index, child in enumerate(item)
            )


def json_depth_exceeds(value: Any, limit: int = JSON_DEPTH_MAX) -> bool:
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


class JsonRefused(ValueError):
    """A body that is not JSON, or nests deeper than JSON_DEPTH_MAX. ``code`` says which."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def load_json(raw: bytes | str) -> Any:
    """``json.loads`` that never lets a RecursionError or a decoding error through."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise JsonRefused("too_deep") from None
    except (ValueError, UnicodeDecodeError):
        raise JsonRefused("invalid_json") from None
    if json_depth_exceeds(data):
        raise JsonRefused("too_deep")
    return data


@deconstructible
class PlainTextValidator:
    """The rule as a Django validator, for form and model fields."""

    def __call__(self, value: object) -> None:
        texts = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(text, str) and has_control_character(text) for text in texts):
            raise ValidationError(CONTROL_CHARACTER_MESSAGE, code=CONTROL_CHARACTER_CODE)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlainTextValidator)

    def __hash__(self) -> int:
        return hash(PlainTextValidator)


validate_plain_text = PlainTextValidator()
