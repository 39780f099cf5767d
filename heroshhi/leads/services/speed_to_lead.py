"""Speed-to-lead alerts: a lead's owner hears of a new lead that has waited 15 minutes, the
workspace's managers and owners at 60; each alert is claimed once per lead."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.assignment import managers_and_owners, waiting_leads
from heroshhi.leads.models import Lead, Notification

SPEED_ALERT_AFTER = timedelta(minutes=15)
SPEED_ESCALATE_AFTER = timedelta(minutes=60)
SPEED_BATCH = 500


@transaction.atomic
def _speed_claim(*, now: datetime, lead_id: Any, workspace_id: Any, escalate: bool) -> int:
    """Claim one lead's alert (re-checking every condition in the UPDATE) and notify."""
    field = "speed_escalated_at" if escalate else "speed_alerted_at"
    after = SPEED_ESCALATE_AFTER if escalate else SPEED_ALERT_AFTER
    waiting = waiting_leads(now=now, after=after, claimed_field=field)
    claimed = waiting.filter(pk=lead_id, workspace_id=workspace_id).update(**{field: now})
    if claimed != 1:
        return 0
    with workspace_scope(workspace_id):
        if escalate:
            recipients = managers_and_owners()
            kind = Notification.Kind.SPEED_TO_LEAD_ESCALATED
        else:
            owner_id = Lead.objects.filter(pk=lead_id).values_list("owner_id", flat=True).get()
            recipients = [] if owner_id is None else [owner_id]
            kind = Notification.Kind.SPEED_TO_LEAD
        Notification.objects.bulk_create(
            Notification(workspace_id=workspace_id, recipient_id=rid, kind=kind, lead_id=lead_id)
            for rid in recipients
        )
    return len(recipients)


def speed_to_lead_alerts(*, now: datetime | None = None) -> dict[str, int]:
    """Alert owners at 15 minutes and managers/owners at 60, once per lead each.

    Safe to run twice or on several workers at once: each alert is claimed by a conditional
    UPDATE on ``speed_alerted_at`` / ``speed_escalated_at``."""
    now = now or timezone.now()
    counts = {"alerted": 0, "escalated": 0}
    for escalate, key, after, field in (
        (False, "alerted", SPEED_ALERT_AFTER, "speed_alerted_at"),
        (True, "escalated", SPEED_ESCALATE_AFTER, "speed_escalated_at"),
    ):
        while True:
            # The one cross-workspace read: which leads are waiting, by id.
            batch = list(
                waiting_leads(now=now, after=after, claimed_field=field)
                .order_by("created_at", "id")
                .values_list("pk", "workspace_id")[:SPEED_BATCH]
            )
            for lead_id, workspace_id in batch:
                counts[key] += _speed_claim(
                    now=now, lead_id=lead_id, workspace_id=workspace_id, escalate=escalate
                )
            if len(batch) < SPEED_BATCH:
                break
    return counts
