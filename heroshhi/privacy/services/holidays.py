"""Writes of a workspace's holidays, the days its privacy deadlines skip."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.privacy.models import WorkspaceHoliday
from heroshhi.privacy.services.common import actor_role, clean_text
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

HOLIDAY_NAME_MAX = 80
# Holidays are the owner's setting, like retention: they move every future deadline.
SETTINGS_CAPABILITY = Capability.RETENTION_MANAGE


@transaction.atomic
def holiday_add(*, workspace: Workspace, actor: Actor, day: date, name: str) -> WorkspaceHoliday:
    require_capability(actor_role(actor), SETTINGS_CAPABILITY)
    label = clean_text(name, field="name", max_length=HOLIDAY_NAME_MAX, required=True)
    if not isinstance(day, date):
        raise ValidationError({"date": [_("Enter a valid date.")]})
    with workspace_scope(workspace):
        if WorkspaceHoliday.objects.filter(date=day).exists():
            raise ValidationError({"date": [_("This day is already a holiday.")]})
        holiday = WorkspaceHoliday.objects.create(workspace=workspace, date=day, name=label)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_SETTINGS_UPDATED,
            target=("workspace_holiday", holiday.pk),
            reason="holiday_added",
            metadata={"date": day.isoformat()},
        )
    return holiday


@transaction.atomic
def holiday_remove(*, workspace: Workspace, actor: Actor, holiday: WorkspaceHoliday) -> None:
    require_capability(actor_role(actor), SETTINGS_CAPABILITY)
    with workspace_scope(workspace):
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_SETTINGS_UPDATED,
            target=("workspace_holiday", holiday.pk),
            reason="holiday_removed",
            metadata={"date": holiday.date.isoformat()},
        )
        holiday.delete()
