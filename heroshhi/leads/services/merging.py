"""Merging two leads by hand: one survives (``keep``), the duplicate (``absorb``) goes.

The person merging picks, field by field, which lead's value survives; tags are unioned;
notes, tasks, notifications and the timeline of ``absorb`` move to ``keep``. ``absorb`` is
then hard-deleted: it was a duplicate and everything it held now lives on ``keep``. The
timeline entry and the audit event carry field names (and the absorbed lead's id on the
timeline), never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Note, Notification, Tag, Task, TimelineEvent
from heroshhi.leads.services.common import (
    actor_role,
    email_bidx_of,
    lead_audit,
    name_tokens_set,
    phone_bidx_of,
    timeline_add,
)
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

Side = Literal["keep", "absorb"]
# The fields a merge lets one choose, in the order the merge page shows them.
MERGE_FIELDS: tuple[str, ...] = (
    "name",
    "phone",
    "email",
    "description",
    "stage",
    "owner",
    "deal_value",
    "source",
)
_SIDES = frozenset({"keep", "absorb"})
# Each choice copies these model attributes (source carries its attribution ids along).
_COPIED: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "phone": ("phone", "phone_bidx"),
    "email": ("email", "email_bidx"),
    "description": ("description",),
    "stage": ("stage_id",),
    "owner": ("owner_id",),
    "deal_value": ("deal_value",),
    "source": ("source", "source_details"),
}


def require_merge_rights(role: str) -> None:
    """Merging needs edit rights and sight of every lead (owners and managers)."""
    require_capability(role, Capability.LEADS_EDIT)
    require_capability(role, Capability.LEADS_VIEW_ALL)


def clean_choices(choices: Mapping[str, object]) -> dict[str, Side]:
    """Every merge field mapped to "keep" or "absorb"; unnamed fields stay as on ``keep``."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Side] = {}
    for field, side in choices.items():
        if field not in MERGE_FIELDS:
            errors.setdefault("choices", []).append(_("Unknown field."))
        elif side not in _SIDES:
            errors.setdefault(field, []).append(_("Choose one of the two leads."))
        else:
            cleaned[field] = "absorb" if side == "absorb" else "keep"
    if errors:
        raise ValidationError(errors)
    return {field: cleaned.get(field, "keep") for field in MERGE_FIELDS}


def _locked_pair(*, keep: Lead, absorb: Lead) -> tuple[Lead, Lead]:
    """Both leads fresh from the current workspace, locked; a foreign one is missing."""
    rows = {
        lead.pk: lead
        for lead in Lead.objects.select_for_update().filter(pk__in=[keep.pk, absorb.pk])
    }
    if keep.pk not in rows or absorb.pk not in rows:
        raise Http404
    return rows[keep.pk], rows[absorb.pk]


@transaction.atomic
def lead_merge(
    *,
    workspace: Workspace,
    actor: Actor,
    keep: Lead,
    absorb: Lead,
    choices: Mapping[str, Side],
) -> Lead:
    """Fold ``absorb`` into ``keep`` and delete ``absorb``. Returns the refreshed ``keep``."""
    require_merge_rights(actor_role(actor))
    if keep.workspace_id != workspace.pk or absorb.workspace_id != workspace.pk:
        raise Http404
    if keep.pk == absorb.pk:
        raise ValidationError({"lead": [_("Choose two different leads to merge.")]})
    picked = clean_choices(choices)
    with workspace_scope(workspace):
        keep, absorb = _locked_pair(keep=keep, absorb=absorb)
        if keep.deleted_at is not None or absorb.deleted_at is not None:
            raise ValidationError({"lead": [_("Leads in the trash cannot be merged.")]})
        taken = [field for field in MERGE_FIELDS if picked[field] == "absorb"]
        values: dict[str, Any] = {
            attr: getattr(absorb, attr) for field in taken for attr in _COPIED[field]
        }
        tag_ids = set(keep.tags.values_list("pk", flat=True))
        tag_ids |= set(absorb.tags.values_list("pk", flat=True))
        # Custom values: the kept lead's win, the duplicate's fill the gaps.
        custom = {**(absorb.custom_values or {}), **(keep.custom_values or {})}
        absorbed_id = str(absorb.pk)

        moved = {"lead_id": keep.pk}
        Note.objects.filter(lead_id=absorb.pk).update(**moved)
        Task.objects.filter(lead_id=absorb.pk).update(**moved)
        TimelineEvent.objects.filter(lead_id=absorb.pk).update(**moved)
        Notification.objects.filter(lead_id=absorb.pk).update(**moved)
        # Name tokens and tag links of the duplicate go with it (FK cascade).
        absorb.delete()

        for attr, value in values.items():
            setattr(keep, attr, value)
        keep.custom_values = custom or None
        # Recomputed, not trusted: the blind indexes always follow the value kept.
        keep.phone_bidx = phone_bidx_of(workspace, keep.phone)
        keep.email_bidx = email_bidx_of(workspace, keep.email)
        keep.updated_at = keep.last_activity_at = timezone.now()
        keep.save()
        name_tokens_set(workspace=workspace, lead=keep)
        keep.tags.set(list(Tag.objects.filter(pk__in=tag_ids)))
        timeline_add(
            workspace=workspace,
            actor=actor,
            lead=keep,
            kind=TimelineEvent.Kind.MERGED,
            data={"absorbed": absorbed_id, "fields": taken},
        )
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_MERGED,
            lead=keep,
            metadata={"fields": taken},
        )
    return keep
