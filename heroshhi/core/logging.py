"""Structured logs without personal data.

Handlers run ``RequestIdFilter`` then ``RedactPersonalDataFilter`` and format with
``JsonFormatter``: one JSON object per line, tagged with the request id, with e-mail
addresses and phone numbers masked wherever they could hide (message, arguments, extras,
exception text).
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from datetime import UTC, datetime
from typing import Any

from heroshhi.core.request_context import current_request

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

# Tokens that look like digit runs but carry no personal data, kept verbatim.
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
# Dates are matched strictly (real months and days, no trailing digit) so that a phone
# written in groups of 4-2-2 digits is not waved through as a date.
_DATE = r"(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIME = r"[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
_ISO_TIMESTAMP = rf"{_DATE}(?:{_TIME})?(?!\d)|\d{{8}}T\d{{6}}(?:\.\d+)?(?:Z|[+-]\d{{4}})?"
# "%40" and "%2B" catch values that arrive URL-encoded in a path or query string.
_EMAIL = r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# Ten or more digits, optionally led by "+" or "(", with up to three spaces, dashes or
# parentheses between digits. Not inside a longer alphanumeric token (hex ids, hashes).
_PHONE = r"(?<![A-Za-z0-9])(?:\+|%2[Bb]|\(\+?)?\d(?:[\s\-()]{0,3}\d){9,}(?![A-Za-z0-9])"
_PERSONAL = re.compile(
    rf"(?P<keep>{_UUID}|{_ISO_TIMESTAMP})|(?P<email>{_EMAIL})|(?P<phone>{_PHONE})"
)

# Attributes every LogRecord has; anything else on a record came in through `extra`.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__.keys() | {"message", "asctime"})
_SCALARS = (str, int, float, bool, type(None))


def _mask(match: re.Match[str]) -> str:
    if match.group("keep"):
        return match.group("keep")
    return EMAIL_MASK if match.group("email") else PHONE_MASK


def redact(text: str) -> str:
    """The text with every e-mail address and phone number replaced by a placeholder."""
    return _PERSONAL.sub(_mask, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    if isinstance(value, dict):
        return {redact(str(key)): _redact_value(item) for key, item in value.items()}
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRS and not key.startswith("_")
    }


class RequestIdFilter(logging.Filter):
    """Tags each record with the id of the request being served (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            meta = current_request.get()
            # django.request logs 4xx responses once the request context is gone, with the
            # request itself in `extra`; RequestIdMiddleware left the id on it.
            record.request_id = (
                meta.request_id
                if meta
                else getattr(getattr(record, "request", None), "request_id", None)
            )
        return True


class RedactPersonalDataFilter(logging.Filter):
    """Masks personal data in place, so every handler after this one sees clean text.

    The message is formatted first and the arguments dropped, since a placeholder such as
    ``%s`` can be filled with anything. Exception and stack text are formatted here and
    cached on the record, which formatters reuse instead of formatting them again. The
    request id is redacted too: a client may send its own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A broken log call must not break the request that made it.
            message = f"{record.msg} [unformattable arguments]"
        record.msg = redact(message)
        record.args = ()
        for key, value in _extras(record).items():
            setattr(record, key, _redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    raise TypeError


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, exc, extras.

    Only plain data from ``extra`` is written; objects (a request, a model instance) are
    left out because their text form can carry anything.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        for key, value in _extras(record).items():
            try:
                entry.setdefault(key, _jsonable(value))
            except TypeError:
                continue
        return json.dumps(entry, ensure_ascii=False)
