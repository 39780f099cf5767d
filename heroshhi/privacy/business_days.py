"""Privacy request deadlines in business days (PRODUCT.md: due 2 business days after receipt).

The rule, precisely:

* A business day is Monday to Friday, except the workspace's holidays.
* Days are calendar days in the workspace's time zone (``settings.TIME_ZONE`` until
  workspaces have their own).
* The day of receipt never counts, whatever the hour and whether or not it is a business
  day. The request is due at the end (23:59:59.999999 local) of the second business day
  after it. Received Friday 18:00 → due Tuesday end of day; received Monday 09:00 → due
  Wednesday end of day; received Saturday → due Tuesday end of day; with Monday a holiday,
  received Friday → due Wednesday end of day.
* The deadline is fixed when the request is received: a holiday added later does not move
  a promise already made.

A request is *due soon* while it is not overdue and at most one business day remains after
today (it is due today or on the next business day), and *overdue* once its deadline passed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings

DUE_BUSINESS_DAYS = 2
DUE_SOON_BUSINESS_DAYS = 1
_END_OF_DAY = time(23, 59, 59, 999999)
# Far more than any run of weekends and holidays; a guard against an endless loop.
_MAX_STEPS = 366


class SlaState(StrEnum):
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    CLOSED = "closed"


def workspace_timezone(workspace: object) -> tzinfo:
    """The workspace's own zone if it has one, else the installation's."""
    name = getattr(workspace, "timezone", None) or settings.TIME_ZONE
    return ZoneInfo(str(name))


def is_business_day(day: date, holidays: Collection[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_business_days(day: date, count: int, holidays: Collection[date]) -> date:
    """The ``count``-th business day after ``day`` (``day`` itself never counts)."""
    found = 0
    for _step in range(_MAX_STEPS):
        day += timedelta(days=1)
        if is_business_day(day, holidays):
            found += 1
            if found == count:
                return day
    raise ValueError("no business day found within a year")


def due_at_for(received_at: datetime, *, holidays: Collection[date], tz: tzinfo) -> datetime:
    """End of the second business day after the local day of receipt, as an aware time."""
    received_day = received_at.astimezone(tz).date()
    due_day = add_business_days(received_day, DUE_BUSINESS_DAYS, holidays)
    return datetime.combine(due_day, _END_OF_DAY, tzinfo=tz)


def business_days_left(
    now: datetime, due_at: datetime, *, holidays: Collection[date], tz: tzinfo
) -> int:
    """Business days after today up to and including the due day (0 when due today)."""
    today = now.astimezone(tz).date()
    due_day = due_at.astimezone(tz).date()
    left = 0
    day = today
    while day < due_day:
        day += timedelta(days=1)
        if is_business_day(day, holidays):
            left += 1
    return left


def sla_state(
    now: datetime, due_at: datetime, *, closed: bool, holidays: Collection[date], tz: tzinfo
) -> SlaState:
    if closed:
        return SlaState.CLOSED
    if now > due_at:
        return SlaState.OVERDUE
    left = business_days_left(now, due_at, holidays=holidays, tz=tz)
    return SlaState.DUE_SOON if left <= DUE_SOON_BUSINESS_DAYS else SlaState.ON_TRACK
