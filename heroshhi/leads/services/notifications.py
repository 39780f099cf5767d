"""Writes to a member's notifications."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Notification
from heroshhi.workspaces.models import Membership, Workspace


@transaction.atomic
def notifications_mark_all_read(*, workspace: Workspace, member: Membership) -> int:
    """Mark every unread notice of this member read; returns how many."""
    with workspace_scope(workspace):
        return Notification.objects.filter(recipient=member, read_at__isnull=True).update(
            read_at=timezone.now()
        )
