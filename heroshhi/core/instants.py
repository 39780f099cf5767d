"""Times people give us that start or move a deadline (a privacy request's receipt, a
back-dated consent, a logged call): a past instant, no older than a limit the caller names.

Without a bound a typing error (2099 for 2029) silently moves a legal deadline out of reach.
Each limit and its reason live next to its caller; the README's REST API section lists them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

# Clocks of phones and integrations run a little ahead; a few minutes is not "the future".
CLOCK_SKEW = timedelta(minutes=5)


def past_instant_problem(
    value: datetime, *, max_age_days: int, now: datetime | None = None
) -> str | None:
    """Why ``value`` is not an instant of the last ``max_age_days`` days, or None."""
    if timezone.is_naive(value):
        return _("Give the time with its time zone.")
    now = now or timezone.now()
    if value > now + CLOCK_SKEW:
        return _("This time is in the future.")
    if value < now - timedelta(days=max_age_days):
        return ngettext(
            "This time is more than %(days)d day ago.",
            "This time is more than %(days)d days ago.",
            max_age_days,
        ) % {"days": max_age_days}
    return None


def clean_past_instant(
    value: datetime, *, field: str, max_age_days: int, now: datetime | None = None
) -> datetime:
    """``value``, or a ValidationError naming ``field`` (a 422 in the API)."""
    problem = past_instant_problem(value, max_age_days=max_age_days, now=now)
    if problem:
        raise ValidationError({field: [problem]})
    return value
