"""Creating a lead (with dedupe by phone, then e-mail) and changing one. Each service checks
the role and writes its change, a timeline entry and an audit event in one transaction."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import partial, reduce
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import custom_fields, validation
from heroshhi.leads.models import Lead, Stage, Tag, TimelineEvent
from heroshhi.leads.selectors import Viewer, viewer_for
from heroshhi.leads.services.assignment import assignee_for_new_lead
from heroshhi.leads.services.common import (
    actor_role,
    email_bidx_of,
    ensure_own_member,
    ensure_own_stage,
    id_or_none,
    lead_audit,
    name_tokens_set,
    phone_bidx_of,
    require_visible,
    tags_named,
    timeline_add,
)
from heroshhi.leads.services.lead_rules import (
    CUSTOM_FIELD_PREFIX,
    clean_lead_input,
    created_fields,
    enquiry_fill,
    initial_owner_id,
)
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

_EDITABLE = frozenset(
    {"name", "phone", "email", "description", "source_details", "stage", "owner", "tags"}
    | {"deal_value", "custom_fields"}
)


@dataclass(frozen=True, slots=True)
class LeadCreateResult:
    lead: Lead
    created: bool
    # A new lead's tag names, known without reading them back (None for a repeat enquiry).
    tag_names: tuple[str, ...] | None = None


def _live_duplicate(*, phone_bidx: str | None, email_bidx: str | None) -> Lead | None:
    """The oldest live lead with this phone, else the oldest with this e-mail; one locked
    read for both."""
    keys = [
        Q(**{field: value})
        for field, value in (("phone_bidx", phone_bidx), ("email_bidx", email_bidx))
        if value is not None
    ]
    if not keys:
        return None
    found = list(
        Lead.objects.select_for_update()
        .filter(reduce(operator.or_, keys), deleted_at__isnull=True)
        .order_by("created_at", "id")
    )
    by_phone = [lead for lead in found if phone_bidx is not None and lead.phone_bidx == phone_bidx]
    return (by_phone or found or [None])[0]


@transaction.atomic
def lead_create(
    *,
    workspace: Workspace,
    actor: Actor,
    name: str | None,
    phone: str | None,
    email: str | None,
    source: str,
    source_details: Mapping[str, object] | None = None,
    stage: Stage | None = None,
    owner: Membership | None = None,
    tags: Iterable[str] = (),
    deal_value: Decimal | int | str | None = None,
    description: str | None = None,
    custom_fields: Mapping[str, object] | None = None,
) -> LeadCreateResult:
    """A new lead, or the live lead with the same phone or e-mail, filled in and noted.

    ``custom_fields`` (key → value) are checked by type; required ones are enforced only
    when the caller sends custom fields at all (leads captured by machines never fail).
    Many leads at once: ``heroshhi.leads.services.batch.leads_create_many``, same rules."""
    require_capability(actor_role(actor), Capability.LEADS_CREATE)
    data = clean_lead_input(
        workspace=workspace,
        name=name,
        phone=phone,
        email=email,
        source=source,
        source_details=source_details,
        stage=stage,
        owner=owner,
        tags=tags,
        deal_value=deal_value,
        description=description,
        custom_fields=custom_fields,
    )
    with workspace_scope(workspace):
        phone_bidx = phone_bidx_of(workspace, data["phone"])
        email_bidx = email_bidx_of(workspace, data["email"])
        write = partial(
            _lead_row_write,
            workspace=workspace,
            actor=actor,
            data=data,
            phone_bidx=phone_bidx,
            email_bidx=email_bidx,
        )
        if phone_bidx is None:
            lead, filled_again = write()
        else:
            # Two live leads never share a phone (a unique index): of two creates racing
            # for a new number, the second waits for the first to commit and fails. The
            # savepoint keeps that failure from dooming the transaction, and the second
            # look finds the winner's lead, so the loser is a repeat enquiry.
            try:
                with transaction.atomic():
                    lead, filled_again = write()
            except IntegrityError:
                lead, filled_again = write()
        if filled_again is not None:
            _enquired_again(
                workspace=workspace, actor=actor, lead=lead, data=data, filled=filled_again
            )
            return LeadCreateResult(lead=lead, created=False)
        name_tokens_set(workspace=workspace, lead=lead, fresh=True)
        tags_found = tags_named(workspace=workspace, names=data["tags"])
        Lead.tags.through.objects.bulk_create(
            [Lead.tags.through(lead_id=lead.pk, tag_id=tag.pk) for tag in tags_found]
        )
        filled = created_fields(data)
        timeline_add(
            workspace=workspace,
            actor=actor,
            lead=lead,
            kind=TimelineEvent.Kind.CREATED,
            data={"source": lead.source, "fields": filled},
        )
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_CREATED,
            lead=lead,
            metadata={"source": lead.source, "fields": filled, "tags": len(data["tags"])},
        )
    return LeadCreateResult(
        lead=lead, created=True, tag_names=tuple(tag.name for tag in tags_found)
    )


def _lead_row_write(
    *,
    workspace: Workspace,
    actor: Actor,
    data: dict[str, Any],
    phone_bidx: str | None,
    email_bidx: str | None,
) -> tuple[Lead, list[str] | None]:
    """Fill and save the live lead this one repeats, or insert the new lead; returns the
    lead and, for a repeat, the names of the fields filled (None for a new lead). A new
    ownerless lead takes its assignment turn here (a turn taken by a create that then
    loses a race is not given back)."""
    existing = _live_duplicate(phone_bidx=phone_bidx, email_bidx=email_bidx)
    if existing is not None:
        filled = enquiry_fill(workspace=workspace, lead=existing, data=data)
        existing.save()
        return existing, filled
    lead = Lead(
        workspace=workspace,
        name=data["name"],
        phone=data["phone"],
        email=data["email"],
        description=data["description"],
        phone_bidx=phone_bidx,
        email_bidx=email_bidx,
        source=data["source"],
        source_details=data["source_details"],
        stage=data["stage"] or stages_ensure_defaults(workspace=workspace)[0],
        owner_id=initial_owner_id(actor=actor, owner=data["owner"])
        or assignee_for_new_lead(workspace=workspace, source=data["source"]),
        deal_value=data["deal_value"],
        custom_values=data["custom"] or None,
    )
    lead.save(force_insert=True)
    return lead, None


def _enquired_again(
    *, workspace: Workspace, actor: Actor, lead: Lead, data: dict[str, Any], filled: list[str]
) -> None:
    if "name" in filled:
        name_tokens_set(workspace=workspace, lead=lead)
    timeline_add(
        workspace=workspace,
        actor=actor,
        lead=lead,
        kind=TimelineEvent.Kind.ENQUIRED_AGAIN,
        data={"source": data["source"], "fields": filled},
    )
    lead_audit(
        workspace=workspace,
        actor=actor,
        action=AuditAction.LEAD_UPDATED,
        lead=lead,
        reason="enquired_again",
        metadata={"source": data["source"], "fields": filled},
    )


@transaction.atomic
def lead_update(*, workspace: Workspace, actor: Actor, lead: Lead, **changes: Any) -> Lead:
    """Apply the given changes; records which fields changed, stage moves and assignment."""
    require_capability(actor_role(actor), Capability.LEADS_EDIT)
    unknown = sorted(set(changes) - _EDITABLE)
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    with workspace_scope(workspace):
        viewer = viewer_for(actor=actor)
        require_visible(viewer=viewer, lead=lead)
        changed = _apply_field_changes(workspace=workspace, lead=lead, changes=changes)
        changed += _apply_custom_changes(workspace=workspace, lead=lead, changes=changes)
        moves = _apply_moves(workspace=workspace, viewer=viewer, lead=lead, changes=changes)
        new_tags = _tag_change(workspace=workspace, lead=lead, changes=changes)
        if not (changed or moves or new_tags is not None):
            return lead
        lead.updated_at = lead.last_activity_at = timezone.now()
        if "phone" in changed:
            _save_with_phone(lead, field="phone")
        else:
            lead.save()
        if "name" in changed:
            name_tokens_set(workspace=workspace, lead=lead)
        if new_tags is not None:
            lead.tags.set(new_tags)
            changed.append("tags")
        if changed:
            timeline_add(
                workspace=workspace,
                actor=actor,
                lead=lead,
                kind=TimelineEvent.Kind.UPDATED,
                data={"fields": changed},
            )
        for kind, data in moves:
            timeline_add(workspace=workspace, actor=actor, lead=lead, kind=kind, data=data)
        lead_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_UPDATED,
            lead=lead,
            metadata={"fields": changed + [kind for kind, _data in moves]},
        )
    return lead


def _apply_field_changes(*, workspace: Workspace, lead: Lead, changes: dict[str, Any]) -> list[str]:
    cleaners: dict[str, Callable[[object], Any]] = {
        "name": validation.clean_name,
        "phone": validation.clean_phone,
        "email": validation.clean_email,
        "description": validation.clean_description,
        "source_details": validation.clean_source_details,
        "deal_value": validation.clean_deal_value,
    }
    cleaned = validation.collect(
        {
            field: (lambda c=clean, v=changes[field]: c(v))  # type: ignore[misc]
            for field, clean in cleaners.items()
            if field in changes
        }
    )
    changed = [field for field, value in cleaned.items() if getattr(lead, field) != value]
    for field in changed:
        setattr(lead, field, cleaned[field])
    if "phone" in changed:
        lead.phone_bidx = phone_bidx_of(workspace, lead.phone)
        _refuse_taken(lead=lead, field="phone", lookup={"phone_bidx": lead.phone_bidx})
    if "email" in changed:
        lead.email_bidx = email_bidx_of(workspace, lead.email)
        _refuse_taken(lead=lead, field="email", lookup={"email_bidx": lead.email_bidx})
    return changed


def _apply_custom_changes(
    *, workspace: Workspace, lead: Lead, changes: dict[str, Any]
) -> list[str]:
    """Merge the given custom values into the lead's (None clears a key); returns the
    changed ones as "custom:<key>"."""
    if changes.get("custom_fields") is None:
        return []
    cleaned = custom_fields.clean_custom_values(
        workspace=workspace, values=changes["custom_fields"], partial=True
    )
    current = dict(lead.custom_values or {})
    changed = [key for key, value in cleaned.items() if current.get(key) != value]
    if not changed:
        return []
    for key in changed:
        if cleaned[key] is None:
            current.pop(key, None)
        else:
            current[key] = cleaned[key]
    lead.custom_values = current or None
    return [CUSTOM_FIELD_PREFIX + key for key in changed]


def _save_with_phone(lead: Lead, *, field: str) -> None:
    """Save a lead whose phone may now be another live lead's: ``_refuse_taken`` says so
    up front, and the unique index catches a lead given the number meanwhile."""
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError:
        raise ValidationError({field: [_("Another lead already has this value.")]}) from None


def _refuse_taken(*, lead: Lead, field: str, lookup: dict[str, str | None]) -> None:
    """Two live leads never share a phone or e-mail; dedupe depends on it."""
    if next(iter(lookup.values())) is None:
        return
    others = Lead.objects.filter(deleted_at__isnull=True, **lookup).exclude(pk=lead.pk)
    if others.exists():
        raise ValidationError({field: [_("Another lead already has this value.")]})


def _apply_moves(
    *, workspace: Workspace, viewer: Viewer, lead: Lead, changes: dict[str, Any]
) -> list[tuple[str, dict[str, object]]]:
    moves: list[tuple[str, dict[str, object]]] = []
    if "stage" in changes:
        stage = ensure_own_stage(workspace, changes["stage"])
        if stage.pk != lead.stage_id:
            moves.append(
                (
                    TimelineEvent.Kind.STAGE_CHANGED,
                    {"from": str(lead.stage_id), "to": str(stage.pk)},
                )
            )
            lead.stage = stage
    if "owner" in changes:
        owner = ensure_own_member(workspace, changes["owner"])
        owner_id = None if owner is None else owner.pk
        if owner_id != lead.owner_id:
            require_capability(viewer.role, Capability.LEADS_ASSIGN)
            moves.append(
                (
                    TimelineEvent.Kind.ASSIGNED,
                    {"from": id_or_none(lead.owner_id), "to": id_or_none(owner_id)},
                )
            )
            lead.owner = owner
    return moves


def _tag_change(*, workspace: Workspace, lead: Lead, changes: dict[str, Any]) -> list[Tag] | None:
    if "tags" not in changes:
        return None
    names = validation.collect({"tags": lambda: validation.clean_tags(changes["tags"])})["tags"]
    if set(names) == {tag.name for tag in lead.tags.all()}:
        return None
    return tags_named(workspace=workspace, names=names)
