"""Writes of the team inbox: read markers, closing and reopening, assignment, notes.

A conversation has no owner of its own: it belongs to whoever owns its lead, so assigning a
conversation assigns the lead (and the lead's rules, timeline and audit apply). Internal
notes are the lead's notes, so they show on the lead page too.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Note
from heroshhi.leads.services.leads import lead_update
from heroshhi.leads.services.notes import note_add
from heroshhi.messaging.models import Conversation, Message
from heroshhi.messaging.tasks import send_read_receipt
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def _role(actor: Actor) -> str:
    return actor.role or ""


def conversation_mark_read(
    *, workspace: Workspace, actor: Actor, conversation: Conversation
) -> bool:
    """Clear the unread count; True when there was something unread. The contact then sees
    their messages as read (blue ticks), through a receipt sent after the commit.

    A conditional UPDATE, so a poll racing a new inbound message never loses the message's
    increment to a stale read of the row."""
    require_capability(_role(actor), Capability.LEADS_VIEW_ASSIGNED)
    with transaction.atomic(), workspace_scope(workspace):
        changed = Conversation.objects.filter(pk=conversation.pk, unread_count__gt=0).update(
            unread_count=0
        )
        newest_inbound = (
            Message.objects.filter(
                conversation=conversation,
                direction=Message.Direction.INBOUND,
                provider_message_id__isnull=False,
            )
            .order_by("-created_at")
            .values_list("pk", flat=True)
            .first()
        )
        if changed and newest_inbound is not None:
            # Marking the newest message read marks every earlier one read too.
            message_id = str(newest_inbound)
            transaction.on_commit(lambda: send_read_receipt.delay(message_id))
    if changed:
        conversation.unread_count = 0
    return bool(changed)


@transaction.atomic
def conversation_set_status(
    *, workspace: Workspace, actor: Actor, conversation: Conversation, status: str
) -> Conversation:
    """Close a conversation (it leaves the inbox's open list) or reopen it."""
    require_capability(_role(actor), Capability.CHAT)
    status = Conversation.Status(status)
    if conversation.status == status:
        return conversation
    with workspace_scope(workspace):
        conversation.status = status
        conversation.closed_at = timezone.now() if status == Conversation.Status.CLOSED else None
        conversation.save(update_fields=["status", "closed_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.CONVERSATION_UPDATED,
            target=("conversation", conversation.pk),
            metadata={"fields": ["status"], "status": status.value},
        )
    return conversation


def conversation_assign(
    *, workspace: Workspace, actor: Actor, conversation: Conversation, member: Membership | None
) -> Conversation:
    """Give the conversation's lead to ``member`` (None: back to unassigned)."""
    require_capability(_role(actor), Capability.LEADS_ASSIGN)
    lead_update(workspace=workspace, actor=actor, lead=conversation.lead, owner=member)
    return conversation


def conversation_note_add(
    *, workspace: Workspace, actor: Actor, conversation: Conversation, body: str
) -> Note:
    """An internal note in the thread: a note on the lead, never sent to the contact."""
    return note_add(workspace=workspace, actor=actor, lead=conversation.lead, body=body)
