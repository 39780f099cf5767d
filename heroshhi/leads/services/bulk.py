"""One action on many leads, through the single-lead services."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.models import Lead
from heroshhi.leads.selectors import member_for_input, stage_for_input, viewer_for, visible_leads
from heroshhi.leads.services.common import actor_role
from heroshhi.leads.services.leads import lead_update
from heroshhi.leads.services.trash import lead_trash
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

BULK_MAX = 200
BULK_ACTIONS = ("assign", "unassign", "stage", "tag", "trash")


@transaction.atomic
def leads_bulk_apply(
    *,
    workspace: Workspace,
    actor: Actor,
    lead_ids: Iterable[Any],
    action: str,
    value: str | None,
) -> int:
    """Assign, unassign, move, tag or trash many live leads at once through the single-lead
    services, in one transaction, so each lead gets its own timeline entry and audit event.
    Ids that are not visible live leads of this workspace are skipped. Returns how many
    changed."""
    if action not in BULK_ACTIONS:
        raise ValidationError({"action": [_("Choose assign, unassign, stage, tag or trash.")]})
    bulk_cap = Capability.LEADS_BULK_DELETE if action == "trash" else Capability.LEADS_ASSIGN
    require_capability(actor_role(actor), bulk_cap)
    ids = list(dict.fromkeys(lead_ids))
    if len(ids) > BULK_MAX:
        raise ValidationError(
            {"lead": [_("Choose at most %(max)d leads at a time.") % {"max": BULK_MAX}]}
        )
    with workspace_scope(workspace):
        change = _bulk_change(workspace=workspace, action=action, value=value or "")
        leads = list(
            visible_leads(viewer=viewer_for(actor=actor))
            .filter(pk__in=ids, deleted_at__isnull=True)
            .prefetch_related("tags")
            .order_by("created_at", "id")
        )
        changed = 0
        for lead in leads:
            if action == "trash":
                lead_trash(workspace=workspace, actor=actor, lead=lead)
                changed += 1
                continue
            update = change(lead)
            if update is not None:
                lead_update(workspace=workspace, actor=actor, lead=lead, **update)
                changed += 1
    return changed


def _bulk_change(
    *, workspace: Workspace, action: str, value: str
) -> Callable[[Lead], dict[str, Any] | None]:
    """What ``lead_update`` gets for one lead, or None when the lead already matches."""
    if action == "assign":
        member = member_for_input(workspace=workspace, value=value)
        return lambda lead: None if lead.owner_id == member.pk else {"owner": member}
    if action == "unassign":
        return lambda lead: None if lead.owner_id is None else {"owner": None}
    if action == "stage":
        stage = stage_for_input(workspace=workspace, value=value)
        return lambda lead: None if lead.stage_id == stage.pk else {"stage": stage}
    if action == "tag":
        names = validation.collect({"tags": lambda: validation.clean_tags([value])})["tags"]
        if not names:
            raise ValidationError({"tags": [_("Give a tag name.")]})

        def add_tag(lead: Lead) -> dict[str, Any] | None:
            current = [tag.name for tag in lead.tags.all()]
            return None if names[0] in current else {"tags": [*current, names[0]]}

        return add_tag
    return lambda lead: None
