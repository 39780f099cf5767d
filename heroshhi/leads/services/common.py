"""What the leads services share: the role check, timeline entries and audit events
(field names and ids only, never values), blind indexes, name tokens, tags and the
checks that an object belongs to the workspace and a lead is visible."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import EMAIL, PHONE, blind_index, name_tokens
from heroshhi.leads.models import Lead, LeadNameToken, Stage, Tag, TimelineEvent
from heroshhi.leads.selectors import Viewer, lead_is_visible
from heroshhi.workspaces.models import Membership, Workspace


def actor_role(actor: Actor) -> str:
    if not actor.role:
        raise PermissionDenied("leads.no_role")
    return actor.role


def timeline_add(
    *, workspace: Workspace, actor: Actor, lead: Lead, kind: str, data: dict[str, object]
) -> None:
    TimelineEvent.objects.create(
        workspace=workspace,
        lead=lead,
        kind=kind,
        actor_type=actor.type.value,
        actor_id=actor.id or "",
        data=data,
    )


def lead_audit(
    *,
    workspace: Workspace,
    actor: Actor,
    action: AuditAction,
    lead: Lead,
    metadata: dict[str, object],
    reason: str = "",
) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        action=action,
        target=("lead", lead.pk),
        reason=reason,
        metadata=metadata,
    )


def phone_bidx_of(workspace: Workspace, phone: str | None) -> str | None:
    return None if phone is None else blind_index(workspace.pk, PHONE, phone)


def email_bidx_of(workspace: Workspace, email: str | None) -> str | None:
    return None if email is None else blind_index(workspace.pk, EMAIL, email)


def name_tokens_set(*, workspace: Workspace, lead: Lead, fresh: bool = False) -> None:
    """Replace the lead's name tokens; ``fresh``: a lead saved just now has none to delete."""
    if not fresh:
        LeadNameToken.objects.filter(lead=lead).delete()
    tokens = name_tokens(workspace.pk, lead.name or "")
    if tokens:
        LeadNameToken.objects.bulk_create(
            [
                LeadNameToken(
                    workspace=workspace, lead=lead, token=token, lead_created_at=lead.created_at
                )
                for token in tokens
            ]
        )


def tags_named(*, workspace: Workspace, names: list[str]) -> list[Tag]:
    """The workspace's tags with these names, creating the missing ones (one query when
    they all exist already)."""
    if not names:
        return []
    found = list(Tag.objects.filter(name__in=names))
    if len(found) == len(set(names)):
        return found
    Tag.objects.bulk_create(
        [Tag(workspace=workspace, name=name) for name in names], ignore_conflicts=True
    )
    return list(Tag.objects.filter(name__in=names))


def ensure_own_stage(workspace: Workspace, stage: Stage) -> Stage:
    if stage.workspace_id != workspace.pk:
        raise ValidationError({"stage": [_("Choose a valid option.")]})
    return stage


def ensure_own_member(workspace: Workspace, member: Membership | None) -> Membership | None:
    if member is not None and member.workspace_id != workspace.pk:
        raise ValidationError({"owner": [_("Choose a valid option.")]})
    return member


def require_visible(*, viewer: Viewer, lead: Lead, live: bool = True) -> None:
    """A backstop behind ``access_lead``: not-yours and wrong-state look like 'missing'."""
    if not lead_is_visible(viewer=viewer, lead=lead):
        raise Http404
    if live != (lead.deleted_at is None):
        raise Http404


def id_or_none(value: object) -> str | None:
    return None if value is None else str(value)
