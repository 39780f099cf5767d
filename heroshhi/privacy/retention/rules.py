"""The retention rules by name, in the order a run applies them, and the limits of the
owner's policy."""

from __future__ import annotations

from datetime import datetime, timedelta

RULE_TERMINATED = "terminated_workspaces"
RULE_AUDIT = "audit"
RULE_TRASH = "trash"
RULE_MESSAGES = "message_retention"
RULE_INACTIVE = "inactive_leads"
RULES = (RULE_TERMINATED, RULE_AUDIT, RULE_TRASH, RULE_MESSAGES, RULE_INACTIVE)
# Platform rules cover every workspace at once; a run limited to one workspace skips them.
PLATFORM_RULES = frozenset({RULE_TERMINATED, RULE_AUDIT})
# Never touched by any rule (asserted in the tests): the ledger outlives every lead.
EXEMPT = ("messaging.OptOutRecord", "analytics aggregates")

RULE_LABELS = {
    RULE_TERMINATED: "Terminated workspaces (30 days after termination)",
    RULE_AUDIT: "Audit events older than 365 days",
    RULE_TRASH: "Leads in the trash for 30 days",
    RULE_MESSAGES: "Messages older than your retention setting",
    RULE_INACTIVE: "Leads without activity, moved to the trash",
}

# Policy limits: below these a typo would wipe a business's history overnight.
MESSAGE_DAYS_MIN, MESSAGE_DAYS_MAX = 30, 3650
INACTIVE_MONTHS_MIN, INACTIVE_MONTHS_MAX = 3, 120


def months_before(moment: datetime, months: int) -> datetime:
    """The same day-of-month ``months`` calendar months earlier (clamped to month end)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    last_day = _days_in_month(year, month)
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + (month == 12), month % 12 + 1, 1)
    return (following - timedelta(days=1)).day
