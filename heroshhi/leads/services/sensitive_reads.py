"""Reads that leave an audit event: one lead opened (P25), an export."""

from __future__ import annotations

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.leads.models import Lead
from heroshhi.leads.services.common import actor_role
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def leads_export_record(
    *, workspace: Workspace, actor: Actor, count: int, filters: list[str]
) -> None:
    """The audit event of one export: how many rows and which filters (names only)."""
    require_capability(actor_role(actor), Capability.LEADS_EXPORT)
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.DATA_EXPORT,
        metadata={"entity": "lead", "format": "csv", "count": count, "filters": filters},
    )


def lead_record_view(*, workspace: Workspace, actor: Actor, lead: Lead) -> None:
    """Opening one lead's details is a sensitive read (P25)."""
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.SENSITIVE_READ,
        target=("lead", lead.pk),
        metadata={"entity": "lead"},
    )
