"""Due dates: 2 business days after the day of receipt, skipping weekends and the
workspace's holidays, in the workspace's time zone; and the due-soon / overdue states."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from conftest import World
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.services.leads import lead_create
from heroshhi.privacy.business_days import SlaState, due_at_for, sla_state
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.selectors import RequestFilters, requests_list
from heroshhi.privacy.services.holidays import holiday_add
from heroshhi.privacy.services.requests import privacy_request_create

IST = ZoneInfo("Asia/Kolkata")
NO_HOLIDAYS: frozenset[date] = frozenset()


def ist(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=IST)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=IST)


@pytest.fixture
def june_2025() -> Iterator[None]:
    """The clock on Monday 9 June 2025, so requests of that week are in the recent past
    that a receipt may be dated to."""
    with mock.patch("django.utils.timezone.now", return_value=ist(2025, 6, 9, 12)):
        yield


# 2025-06-06 is a Friday.
@pytest.mark.parametrize(
    ("received", "due_day"),
    [
        (ist(2025, 6, 6, 18, 0), date(2025, 6, 10)),  # Friday evening → Tuesday
        (ist(2025, 6, 6, 0, 1), date(2025, 6, 10)),  # the hour never matters
        (ist(2025, 6, 7, 11, 0), date(2025, 6, 10)),  # Saturday → Tuesday
        (ist(2025, 6, 8, 23, 59), date(2025, 6, 10)),  # Sunday night → Tuesday
        (ist(2025, 6, 9, 9, 0), date(2025, 6, 11)),  # Monday → Wednesday
        (ist(2025, 6, 11, 10, 0), date(2025, 6, 13)),  # Wednesday → Friday
        (ist(2025, 6, 12, 10, 0), date(2025, 6, 16)),  # Thursday → Monday
    ],
)
def test_due_at_is_the_end_of_the_second_business_day_after_receipt(received, due_day):
    assert due_at_for(received, holidays=NO_HOLIDAYS, tz=IST) == end_of(due_day)


def test_holidays_are_skipped_like_weekends():
    holidays = frozenset({date(2025, 6, 9), date(2025, 6, 10)})  # Monday and Tuesday off
    received = ist(2025, 6, 6, 18, 0)  # Friday
    assert due_at_for(received, holidays=holidays, tz=IST) == end_of(date(2025, 6, 12))


def test_a_holiday_on_a_weekend_changes_nothing():
    holidays = frozenset({date(2025, 6, 7)})  # a Saturday
    assert due_at_for(ist(2025, 6, 6, 18), holidays=holidays, tz=IST) == end_of(date(2025, 6, 10))


def test_receipt_day_is_read_in_the_workspace_time_zone():
    # Thursday 20:00 UTC is already Friday 01:30 in India: due Tuesday there, Monday in UTC.
    thursday_utc = datetime(2025, 6, 5, 20, 0, tzinfo=ZoneInfo("UTC"))
    assert due_at_for(thursday_utc, holidays=NO_HOLIDAYS, tz=IST).date() == date(2025, 6, 10)
    utc_due = due_at_for(thursday_utc, holidays=NO_HOLIDAYS, tz=ZoneInfo("UTC"))
    assert utc_due.date() == date(2025, 6, 9)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (ist(2025, 6, 6, 19, 0), SlaState.ON_TRACK),  # Friday: Mon and Tue still ahead
        (ist(2025, 6, 8, 12, 0), SlaState.ON_TRACK),  # Sunday: Mon, Tue ahead
        (ist(2025, 6, 9, 12, 0), SlaState.DUE_SOON),  # Monday: due tomorrow
        (ist(2025, 6, 10, 23, 0), SlaState.DUE_SOON),  # Tuesday: due today
        (ist(2025, 6, 11, 0, 0), SlaState.OVERDUE),  # Wednesday
    ],
)
def test_sla_state_over_the_life_of_a_request(now, state):
    due = due_at_for(ist(2025, 6, 6, 18, 0), holidays=NO_HOLIDAYS, tz=IST)
    assert sla_state(now, due, closed=False, holidays=NO_HOLIDAYS, tz=IST) == state


def test_a_closed_request_is_never_overdue():
    due = due_at_for(ist(2025, 6, 6, 18, 0), holidays=NO_HOLIDAYS, tz=IST)
    assert sla_state(ist(2026, 1, 1), due, closed=True, holidays=NO_HOLIDAYS, tz=IST) == "closed"


def test_a_request_uses_the_workspaces_holidays(world: World, alice: Actor, june_2025: None):
    holiday_add(workspace=world.a, actor=alice, day=date(2025, 6, 9), name="Bakrid")
    lead = lead_create(
        workspace=world.a, actor=alice, name="A", phone=None, email=None, source="manual"
    ).lead
    request = privacy_request_create(
        workspace=world.a,
        actor=alice,
        type="access",
        lead=lead,
        channel="email",
        received_at=ist(2025, 6, 6, 18, 0),
    )
    assert request.due_at == end_of(date(2025, 6, 11))
    # Workspace B has no such holiday.
    other = lead_create(
        workspace=world.b,
        actor=Actor.user(world.charlie.pk, role="owner"),
        name="B",
        phone=None,
        email=None,
        source="manual",
    ).lead
    theirs = privacy_request_create(
        workspace=world.b,
        actor=Actor.user(world.charlie.pk, role="owner"),
        type="access",
        lead=other,
        channel="email",
        received_at=ist(2025, 6, 6, 18, 0),
    )
    assert theirs.due_at == end_of(date(2025, 6, 10))


def test_a_holiday_added_later_does_not_move_a_deadline_already_set(
    world: World, alice: Actor, june_2025: None
):
    lead = lead_create(
        workspace=world.a, actor=alice, name="A", phone=None, email=None, source="manual"
    ).lead
    request = privacy_request_create(
        workspace=world.a,
        actor=alice,
        type="access",
        lead=lead,
        channel="email",
        received_at=ist(2025, 6, 6, 18, 0),
    )
    holiday_add(workspace=world.a, actor=alice, day=date(2025, 6, 9), name="Bakrid")
    request.refresh_from_db()
    assert request.due_at == end_of(date(2025, 6, 10))


def test_the_list_marks_overdue_and_due_soon_and_filters_overdue(
    world: World, alice: Actor, june_2025: None
):
    lead = lead_create(
        workspace=world.a, actor=alice, name="A", phone=None, email=None, source="manual"
    ).lead
    made = {
        label: privacy_request_create(
            workspace=world.a,
            actor=alice,
            type="access",
            lead=lead,
            channel="email",
            received_at=received,
        )
        for label, received in (
            ("late", ist(2025, 6, 2, 10)),  # Monday → due Wednesday 4th
            ("soon", ist(2025, 6, 6, 18)),  # Friday → due Tuesday 10th
            ("fine", ist(2025, 6, 9, 10)),  # Monday → due Wednesday 11th
        )
    }
    now = ist(2025, 6, 9, 12)
    rows = {row.request.pk: row.state for row in requests_list(workspace=world.a, now=now)}
    assert rows[made["late"].pk] == SlaState.OVERDUE
    assert rows[made["soon"].pk] == SlaState.DUE_SOON
    assert rows[made["fine"].pk] == SlaState.ON_TRACK
    overdue = requests_list(workspace=world.a, filters=RequestFilters(overdue=True), now=now)
    assert [row.request.pk for row in overdue] == [made["late"].pk]
    with workspace_scope(world.a):
        assert PrivacyRequest.objects.count() == 3
    assert timezone.is_aware(made["late"].due_at)
