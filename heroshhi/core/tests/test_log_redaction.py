"""Logs carry request ids and never personal data (e-mail addresses, phone numbers)."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import path
from hypothesis import given
from hypothesis import strategies as st

from config import urls as project_urls
from heroshhi.core.logging import (
    EMAIL_MASK,
    PHONE_MASK,
    JsonFormatter,
    RedactPersonalDataFilter,
    RequestIdFilter,
    redact,
)
from heroshhi.core.request_context import RequestMeta, current_request

SEEDED_EMAIL = "priya.sharma@example.in"
SEEDED_PHONE = "+91 98765 43210"
SEEDED_PHONE_DIGITS = "9876543210"

view_logger = logging.getLogger("heroshhi.tests.leads")


def lead_lookup(request: HttpRequest, phone: str) -> HttpResponse:
    """A careless view: logs personal data every way it can, then fails with it."""
    view_logger.warning(
        "looking up %s for %s",
        phone,
        SEEDED_EMAIL,
        extra={"contact": SEEDED_EMAIL, "phones": [phone], "lead": {"email": SEEDED_EMAIL}},
    )
    raise ValueError(f"no lead with phone {phone} or e-mail {SEEDED_EMAIL}")


urlpatterns = [path("leads/<str:phone>/lookup", lead_lookup), *project_urls.urlpatterns]
handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500


# The patterns on their own


@pytest.mark.parametrize(
    "text",
    [
        "priya.sharma@example.in",
        "Priya.Sharma+crm@Mail.Example.CO.IN",
        "first_last-1@sub.domain.org",
        "priya.sharma%40example.in",
    ],
)
def test_email_addresses_are_masked(text: str) -> None:
    assert redact(f"from <{text}> today") == f"from <{EMAIL_MASK}> today"


@pytest.mark.parametrize(
    "text",
    [
        "+91 98765 43210",
        "+91-98765-43210",
        "+919876543210",
        "919876543210",
        "098765-43210",
        "09876543210",
        "9876543210",
        "(+91) 98765 43210",
        "+91 (98765) 43210",
        "(022) 2345 6789",
        "+1 (415) 555-0134",
        "%2B919876543210",
        "0987-65-43210",
    ],
)
def test_phone_numbers_are_masked(text: str) -> None:
    assert redact(f"call {text}, then") == f"call {PHONE_MASK}, then"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/leads/+919876543210/lookup", f"/leads/{PHONE_MASK}/lookup"),
        ("tel:+919876543210", f"tel:{PHONE_MASK}"),
        ("phone=9876543210&x=1", f"phone={PHONE_MASK}&x=1"),
        ("lead_9876543210", f"lead_{PHONE_MASK}"),
        ("?email=a.b@example.com&next=/", f"?email={EMAIL_MASK}&next=/"),
        (
            "2025-01-15 10:30:00 +91 98765 43210 wrote to x@y.in",
            f"2025-01-15 10:30:00 {PHONE_MASK} wrote to {EMAIL_MASK}",
        ),
    ],
)
def test_personal_data_inside_paths_and_sentences_is_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "lead 123e4567-e89b-12d3-a456-426614174000 moved",
        "11111111-2222-3333-4444-555555555555",
        "request 0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "hex 1234567890abcdef1234567890abcdef",
        "2025-01-15",
        "2025-01-15T10:30:00Z",
        "2025-01-15T10:30:00.123456+05:30",
        "2025-01-15 10:30:00,123",
        "20250115T103000Z",
        "order 12345 of 987654",
        "from 192.168.100.200",
        "status 404 after 1234 ms",
    ],
)
def test_ids_timestamps_and_short_numbers_are_kept(text: str) -> None:
    assert redact(text) == text


@given(st.uuids())
def test_uuids_are_never_mistaken_for_phone_numbers(value: uuid.UUID) -> None:
    assert redact(str(value)) == str(value)
    assert redact(value.hex) == value.hex


@given(
    national=st.from_regex(r"[6-9][0-9]{9}", fullmatch=True),
    prefix=st.sampled_from(["", "0", "91", "+91", "+91 ", "+91-", "(+91) "]),
    split=st.sampled_from(["", " ", "-"]),
)
def test_indian_mobile_numbers_are_masked_in_any_common_layout(
    national: str, prefix: str, split: str
) -> None:
    number = f"{prefix}{national[:5]}{split}{national[5:]}"
    assert redact(f"lead {number} called") == f"lead {PHONE_MASK} called"


# The filters and the formatter


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("heroshhi.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_the_final_message_is_redacted_and_arguments_dropped() -> None:
    record = _record("lead %s at %s", SEEDED_EMAIL, SEEDED_PHONE)
    RedactPersonalDataFilter().filter(record)
    assert record.getMessage() == f"lead {EMAIL_MASK} at {PHONE_MASK}"
    assert record.args == ()


def test_string_extras_are_redacted_wherever_they_are_nested() -> None:
    record = _record(
        "import",
        contact=SEEDED_EMAIL,
        phones=[SEEDED_PHONE, "short 42"],
        row={"email": SEEDED_EMAIL, "count": 3},
        count=7,
    )
    RedactPersonalDataFilter().filter(record)
    assert record.contact == EMAIL_MASK  # type: ignore[attr-defined]
    assert record.phones == [PHONE_MASK, "short 42"]  # type: ignore[attr-defined]
    assert record.row == {"email": EMAIL_MASK, "count": 3}  # type: ignore[attr-defined]
    assert record.count == 7  # type: ignore[attr-defined]


def test_exception_and_stack_text_are_redacted() -> None:
    try:
        raise ValueError(f"bad lead {SEEDED_EMAIL} {SEEDED_PHONE}")
    except ValueError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    record.stack_info = f"Stack (most recent call last):\n  lookup({SEEDED_PHONE!r})"
    RedactPersonalDataFilter().filter(record)
    assert record.exc_text is not None
    assert "ValueError: bad lead" in record.exc_text
    for text in (record.exc_text, record.stack_info):
        assert SEEDED_EMAIL not in text
        assert SEEDED_PHONE not in text
    # Any formatter downstream reuses the redacted text.
    assert SEEDED_EMAIL not in logging.Formatter().format(record)


def test_a_broken_log_call_is_kept_not_raised() -> None:
    record = _record("two values %s %s", SEEDED_EMAIL)
    assert RedactPersonalDataFilter().filter(record)
    assert SEEDED_EMAIL not in record.getMessage()
    assert "unformattable" in record.getMessage()


def test_a_phone_shaped_request_id_sent_by_a_client_is_redacted() -> None:
    record = _record("hello", request_id="919876543210")
    RedactPersonalDataFilter().filter(record)
    assert record.request_id == PHONE_MASK  # type: ignore[attr-defined]


def test_the_request_id_comes_from_the_current_request() -> None:
    outside = _record("outside")
    RequestIdFilter().filter(outside)
    assert outside.request_id is None  # type: ignore[attr-defined]

    token = current_request.set(RequestMeta(request_id="abc123def4567890", ip=None, user_agent=""))
    try:
        inside = _record("inside")
        RequestIdFilter().filter(inside)
        own = _record("task", request_id="from-a-task-1234")
        RequestIdFilter().filter(own)
    finally:
        current_request.reset(token)
    assert inside.request_id == "abc123def4567890"  # type: ignore[attr-defined]
    assert own.request_id == "from-a-task-1234"  # type: ignore[attr-defined]


def test_a_response_logged_after_the_request_context_ended_keeps_its_id() -> None:
    request = RequestFactory().get("/")
    request.request_id = "abc123def4567890"  # type: ignore[attr-defined]
    record = _record("Not Found: /", request=request)
    RequestIdFilter().filter(record)
    assert record.request_id == "abc123def4567890"  # type: ignore[attr-defined]


def test_the_formatter_writes_one_json_object_per_line_with_plain_extras() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record(
            "done %s", "ok", request_id="r1234567", check="db", n=2, obj=object(), tags=["a"]
        )
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "done ok"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "heroshhi.test"
    assert entry["request_id"] == "r1234567"
    assert datetime.fromisoformat(entry["ts"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert "RuntimeError: boom" in entry["exc"]
    assert entry["check"] == "db"
    assert entry["n"] == 2
    assert entry["tags"] == ["a"]
    assert "obj" not in entry


# End to end, through the handler chain that settings.LOGGING builds


@pytest.fixture
def console_output() -> Iterator[io.StringIO]:
    """Points the configured console handler at a buffer, filters and formatter untouched."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    assert isinstance(handler, logging.StreamHandler)
    filter_types = [type(f) for f in handler.filters]
    assert filter_types == [RequestIdFilter, RedactPersonalDataFilter]
    assert isinstance(handler.formatter, JsonFormatter)
    buffer = io.StringIO()
    assert handler.lock is not None
    # Swap the stream directly: setStream() would flush the old one, which may be a capture
    # file pytest has already closed.
    with handler.lock:
        previous, handler.stream = handler.stream, buffer
    try:
        yield buffer
    finally:
        with handler.lock:
            handler.stream = previous


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_seeded_personal_data_never_reaches_the_logs(
    client: Client, console_output: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    client.raise_request_exception = False
    caplog.set_level(logging.INFO)
    request_ids = []

    login = client.post(
        "/accounts/login/", {"username": SEEDED_EMAIL, "password": "wrong password"}
    )
    assert login.status_code == 200
    request_ids.append(login["X-Request-ID"])

    missing = client.get(f"/leads/{SEEDED_PHONE.replace(' ', '')}/profile")
    assert missing.status_code == 404
    request_ids.append(missing["X-Request-ID"])

    failing = client.get(f"/leads/{SEEDED_PHONE.replace(' ', '')}/lookup")
    assert failing.status_code == 500
    request_ids.append(failing["X-Request-ID"])

    try:
        raise LookupError(f"lead {SEEDED_EMAIL} / {SEEDED_PHONE} not found")
    except LookupError:
        logging.getLogger("heroshhi.tests").exception(
            "sync failed for %s", SEEDED_PHONE, extra={"email": SEEDED_EMAIL}
        )

    output = console_output.getvalue()
    lines = output.splitlines()
    entries = [json.loads(line) for line in lines]
    assert {"ts", "level", "logger", "message", "request_id"} <= set(entries[0])

    # The failed login logs nothing; the 404 and the 500 are logged under their request ids.
    logged_ids = {entry["request_id"] for entry in entries}
    assert set(request_ids[1:]) <= logged_ids
    assert any("Traceback" in entry.get("exc", "") for entry in entries)
    assert any(entry.get("contact") == EMAIL_MASK for entry in entries)

    for text in (output, caplog.text):
        assert SEEDED_EMAIL.lower() not in text.lower()
        assert "priya.sharma" not in text.lower()
        assert SEEDED_PHONE not in text
        assert SEEDED_PHONE_DIGITS not in re.sub(r"[\s()+-]", "", text)
