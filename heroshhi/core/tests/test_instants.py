"""The shared bound for times that start or move a deadline: past, within N days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from heroshhi.core.instants import CLOCK_SKEW, clean_past_instant, past_instant_problem

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [NOW, NOW + CLOCK_SKEW, NOW - timedelta(days=30), NOW - timedelta(days=29, hours=23)],
)
def test_instants_within_the_bounds_pass(value):
    assert past_instant_problem(value, max_age_days=30, now=NOW) is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (NOW + CLOCK_SKEW + timedelta(seconds=1), "This time is in the future."),
        (datetime(2099, 1, 1, tzinfo=UTC), "This time is in the future."),
        (NOW - timedelta(days=30, seconds=1), "This time is more than 30 days ago."),
        (datetime(2026, 6, 1, 12, 0), "Give the time with its time zone."),
    ],
)
def test_instants_outside_the_bounds_say_why(value, problem):
    assert past_instant_problem(value, max_age_days=30, now=NOW) == problem


def test_the_clean_form_names_the_field():
    with pytest.raises(ValidationError) as caught:
        clean_past_instant(NOW + timedelta(days=1), field="received_at", max_age_days=1, now=NOW)
    assert caught.value.message_dict == {"received_at": ["This time is in the future."]}
    assert past_instant_problem(NOW - timedelta(days=2), max_age_days=1, now=NOW) == (
        "This time is more than 1 day ago."
    )
