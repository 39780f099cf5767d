"""The trash: a lead goes in, comes back within the retention window, or is deleted now."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import TRASH_RETENTION_DAYS, Lead, Note, TimelineEvent
from heroshhi.leads.selectors import viewer_for
from heroshhi.leads.services.common import actor_role, lead_audit, require_visible, timeline_add
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


@transaction.atomic
def lead_trash(*, workspace: Workspace, actor: Actor, lead: Lead) -> Lead:
    require_capability(actor_role(actor), Capability.LEADS_DELETE)
    with workspace_scope(workspace):
        require_visible(viewer=viewer_for(actor=actor), lead=lead)
        lead.deleted_at = timezone.now()
        lead.save()
        timeline_add(
            workspace=workspace, actor=actor, lead=lead, kind=TimelineEvent.Kind.DELETED, data={}
        )
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_DELETED,
            lead=lead,
            metadata={"mode": "trash"},
        )
    return lead


@transaction.atomic
def lead_restore(*, workspace: Workspace, actor: Actor, lead: Lead) -> Lead:
    """Back from the trash, within the retention window only."""
    require_capability(actor_role(actor), Capability.LEADS_DELETE)
    with workspace_scope(workspace):
        require_visible(viewer=viewer_for(actor=actor), lead=lead, live=False)
        assert lead.deleted_at is not None  # checked just above
        if lead.deleted_at < timezone.now() - timedelta(days=TRASH_RETENTION_DAYS):
            raise ValidationError(
                {"lead": [_("This lead was deleted more than 30 days ago and cannot come back.")]}
            )
        trashed_at, lead.deleted_at = lead.deleted_at, None
        try:
            # Live leads never share a phone (a unique index); this one's may be taken now.
            with transaction.atomic():
                lead.save()
        except IntegrityError:
            lead.deleted_at = trashed_at
            raise ValidationError(
                {
                    "phone": [
                        _(
                            "Another lead now has this phone number. Change that lead's "
                            "number or move it to the trash, then restore this one."
                        )
                    ]
                }
            ) from None
        timeline_add(
            workspace=workspace, actor=actor, lead=lead, kind=TimelineEvent.Kind.RESTORED, data={}
        )
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_RESTORED,
            lead=lead,
            metadata={},
        )
    return lead


@transaction.atomic
def lead_delete_now(*, workspace: Workspace, actor: Actor, lead: Lead) -> None:
    """Hard delete at once (owners only), with everything attached."""
    require_capability(actor_role(actor), Capability.LEADS_DELETE_NOW)
    with workspace_scope(workspace):
        notes = Note.objects.filter(lead=lead).count()
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.DATA_DELETE,
            lead=lead,
            metadata={"entity": "lead", "notes": notes},
        )
        lead.delete()
