"""Notes on a lead."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.models import Lead, Note, TimelineEvent
from heroshhi.leads.selectors import viewer_for
from heroshhi.leads.services.common import actor_role, lead_audit, require_visible, timeline_add
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


@transaction.atomic
def note_add(*, workspace: Workspace, actor: Actor, lead: Lead, body: str) -> Note:
    require_capability(actor_role(actor), Capability.NOTES_WRITE)
    text = validation.clean_note_body(body)
    with workspace_scope(workspace):
        viewer = viewer_for(actor=actor)
        require_visible(viewer=viewer, lead=lead)
        note = Note.objects.create(
            workspace=workspace, lead=lead, author_id=viewer.member_id, body=text
        )
        lead.last_activity_at = timezone.now()
        lead.save()
        timeline_add(
            workspace=workspace,
            actor=actor,
            lead=lead,
            kind=TimelineEvent.Kind.NOTE_ADDED,
            data={"note": str(note.pk)},
        )
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_UPDATED,
            lead=lead,
            metadata={"fields": ["notes"]},
        )
    return note
