"""Reminders to owners of privacy requests close to or past their deadline, and marking
one's own reminders read."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.privacy.business_days import SlaState, sla_state, workspace_timezone
from heroshhi.privacy.models import PrivacyReminder, PrivacyRequest
from heroshhi.privacy.selectors import holiday_dates
from heroshhi.privacy.services.common import member_id_of
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

REMINDER_KINDS = {
    SlaState.DUE_SOON: PrivacyReminder.Kind.DUE_SOON,
    SlaState.OVERDUE: PrivacyReminder.Kind.OVERDUE,
}


def privacy_reminders_send(*, now: datetime | None = None) -> int:
    """Remind each workspace's owners of open requests due within a business day or
    overdue; once per request, owner and kind (a unique constraint), so reruns are safe.
    Returns how many reminders were made."""
    now = now or timezone.now()
    # The one cross-workspace read of requests: which workspaces have open ones.
    workspace_ids = set(
        PrivacyRequest.objects.unscoped()
        .filter(status__in=(PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS))
        .values_list("workspace_id", flat=True)
    )
    made = 0
    for workspace in Workspace.objects.filter(pk__in=workspace_ids):
        made += _remind_workspace(workspace=workspace, now=now)
    return made


@transaction.atomic
def _remind_workspace(*, workspace: Workspace, now: datetime) -> int:
    holidays = holiday_dates(workspace=workspace)
    tz = workspace_timezone(workspace)
    with workspace_scope(workspace):
        owners = list(Membership.objects.filter(role=Role.OWNER).values_list("pk", flat=True))
        reminders = []
        for request in PrivacyRequest.objects.filter(
            status__in=(PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS)
        ):
            state = sla_state(now, request.due_at, closed=False, holidays=holidays, tz=tz)
            kind = REMINDER_KINDS.get(state)
            if kind is None:
                continue
            reminders += [
                PrivacyReminder(workspace=workspace, request=request, recipient_id=owner, kind=kind)
                for owner in owners
            ]
        before = PrivacyReminder.objects.count()
        PrivacyReminder.objects.bulk_create(reminders, ignore_conflicts=True)
        return PrivacyReminder.objects.count() - before


def reminders_mark_read(*, workspace: Workspace, actor: Actor) -> int:
    """The caller's own reminders, marked read."""
    with workspace_scope(workspace):
        member_id = member_id_of(actor)
        if member_id is None:
            return 0
        return PrivacyReminder.objects.filter(recipient_id=member_id, read_at__isnull=True).update(
            read_at=timezone.now()
        )
