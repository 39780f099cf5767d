"""The owner's retention policy (P07) and the retention reports owners may read.

Empty settings mean "keep": nothing is deleted unless the owner chose a period.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.selectors import viewer_for
from heroshhi.privacy.models import RetentionPolicy, RetentionRun, RetentionRunWorkspace
from heroshhi.privacy.retention.rules import (
    INACTIVE_MONTHS_MAX,
    INACTIVE_MONTHS_MIN,
    MESSAGE_DAYS_MAX,
    MESSAGE_DAYS_MIN,
)
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

POLICY_AUDIT_ACTION = AuditAction.RETENTION_POLICY_UPDATED
POLICY_AUDIT_REASON = "policy_updated"
RUNS_SHOWN = 20


def _require(actor: Actor) -> None:
    if not actor.role:
        raise PermissionDenied("privacy.no_role")
    require_capability(actor.role, Capability.RETENTION_MANAGE)


def retention_policy_for(*, workspace: Workspace) -> RetentionPolicy:
    """The workspace's policy; an unsaved "keep everything" one when none was set."""
    with workspace_scope(workspace):
        return RetentionPolicy.objects.first() or RetentionPolicy(workspace=workspace)


def _clean_period(value: object, *, field: str, low: int, high: int, unit: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ValidationError(
            {
                field: [
                    _("Enter %(unit)s from %(low)s to %(high)s, or leave empty to keep.")
                    % {"unit": unit, "low": low, "high": high}
                ]
            }
        )
    return number


@transaction.atomic
def retention_policy_update(
    *,
    workspace: Workspace,
    actor: Actor,
    delete_messages_after_days: object,
    trash_inactive_leads_after_months: object,
) -> RetentionPolicy:
    """Set both periods (None or empty: keep). Owners only; audited with the old and new
    numbers (numbers only)."""
    _require(actor)
    errors: dict[str, list[str]] = {}
    values: dict[str, int | None] = {}
    checks = {
        "delete_messages_after_days": (
            delete_messages_after_days,
            MESSAGE_DAYS_MIN,
            MESSAGE_DAYS_MAX,
            _("days"),
        ),
        "trash_inactive_leads_after_months": (
            trash_inactive_leads_after_months,
            INACTIVE_MONTHS_MIN,
            INACTIVE_MONTHS_MAX,
            _("months"),
        ),
    }
    for name, (raw, low, high, unit) in checks.items():
        try:
            values[name] = _clean_period(raw, field=name, low=low, high=high, unit=unit)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with workspace_scope(workspace):
        member_id: uuid.UUID | None = viewer_for(actor=actor).member_id
        policy = RetentionPolicy.objects.select_for_update().first() or RetentionPolicy(
            workspace=workspace
        )
        before = {
            "delete_messages_after_days": policy.delete_messages_after_days,
            "trash_inactive_leads_after_months": policy.trash_inactive_leads_after_months,
        }
        if before == values and not policy._state.adding:
            return policy
        policy.delete_messages_after_days = values["delete_messages_after_days"]
        policy.trash_inactive_leads_after_months = values["trash_inactive_leads_after_months"]
        policy.updated_at = timezone.now()
        policy.updated_by_id = member_id
        policy.save()
        audit_record(
            workspace=workspace,
            actor=actor,
            action=POLICY_AUDIT_ACTION,
            target=("retention_policy", policy.pk),
            reason=POLICY_AUDIT_REASON,
            metadata={"before": before, "after": values},
        )
    return policy


# Reports --------------------------------------------------------------------------------


def workspace_runs(*, workspace: Workspace, limit: int = RUNS_SHOWN) -> list[RetentionRunWorkspace]:
    """This workspace's part of the latest runs, newest first (counts only)."""
    with workspace_scope(workspace):
        return list(
            RetentionRunWorkspace.objects.select_related("run").order_by("-created_at")[:limit]
        )


def last_finished_run() -> RetentionRun | None:
    """The newest real run over every workspace that got to its end."""
    return (
        RetentionRun.objects.filter(dry_run=False, workspace_ref="")
        .exclude(status__in=(RetentionRun.Status.RUNNING, RetentionRun.Status.INTERRUPTED))
        .order_by("-started_at")
        .first()
    )


def platform_runs(*, limit: int = RUNS_SHOWN) -> list[RetentionRun]:
    return list(RetentionRun.objects.order_by("-started_at")[:limit])
