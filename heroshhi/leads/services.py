"""Every write to leads. Each service checks the role, writes its change, a timeline entry
and an audit event in one transaction. Audit metadata and timeline data carry field names
and ids only, never the values."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import reduce
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import EMAIL, PHONE, blind_index, name_tokens
from heroshhi.core.ordering import renumbered
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import assignment, custom_fields, validation
from heroshhi.leads.models import (
    TRASH_RETENTION_DAYS,
    CustomField,
    Lead,
    LeadNameToken,
    Note,
    Notification,
    Stage,
    Tag,
    Task,
    TimelineEvent,
)
from heroshhi.leads.selectors import (
    Viewer,
    lead_is_visible,
    member_for_input,
    stage_for_input,
    viewer_for,
    visible_leads,
)
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, has_capability, require_capability

PURGE_BATCH = 500
DEFAULT_STAGES: tuple[tuple[str, Stage.Kind], ...] = (
    ("New", Stage.Kind.OPEN),
    ("Contacted", Stage.Kind.OPEN),
    ("Qualified", Stage.Kind.OPEN),
    ("Won", Stage.Kind.WON),
    ("Lost", Stage.Kind.LOST),
)
# Encrypted free-text fields a re-enquiry may fill when they are still empty.
_FILLABLE = ("name", "phone", "email", "description")
_EDITABLE = frozenset(
    {"name", "phone", "email", "description", "source_details", "stage", "owner", "tags"}
    | {"deal_value", "custom_fields"}
)
# Timeline and audit name a changed custom value "custom:<key>", never the value.
CUSTOM_FIELD_PREFIX = "custom:"


@dataclass(frozen=True, slots=True)
class LeadCreateResult:
    lead: Lead
    created: bool


# Helpers --------------------------------------------------------------------------------


def _role(actor: Actor) -> str:
    if not actor.role:
        raise PermissionDenied("leads.no_role")
    return actor.role


def _timeline(
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


def _audit(
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


def _phone_bidx(workspace: Workspace, phone: str | None) -> str | None:
    return None if phone is None else blind_index(workspace.pk, PHONE, phone)


def _email_bidx(workspace: Workspace, email: str | None) -> str | None:
    return None if email is None else blind_index(workspace.pk, EMAIL, email)


def _set_name_tokens(*, workspace: Workspace, lead: Lead, fresh: bool = False) -> None:
    """Replace the lead's name tokens; ``fresh``: a lead saved just now has none to delete."""
    if not fresh:
        LeadNameToken.objects.filter(lead=lead).delete()
    tokens = name_tokens(workspace.pk, lead.name or "")
    if tokens:
        LeadNameToken.objects.bulk_create(
            [LeadNameToken(workspace=workspace, lead=lead, token=token) for token in tokens]
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


def _ensure_own_stage(workspace: Workspace, stage: Stage) -> Stage:
    if stage.workspace_id != workspace.pk:
        raise ValidationError({"stage": [_("Choose a valid option.")]})
    return stage


def _ensure_own_member(workspace: Workspace, member: Membership | None) -> Membership | None:
    if member is not None and member.workspace_id != workspace.pk:
        raise ValidationError({"owner": [_("Choose a valid option.")]})
    return member


def _require_visible(*, viewer: Viewer, lead: Lead, live: bool = True) -> None:
    """A backstop behind ``access_lead``: not-yours and wrong-state look like 'missing'."""
    if not lead_is_visible(viewer=viewer, lead=lead):
        raise Http404
    if live != (lead.deleted_at is None):
        raise Http404


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


# Stages --------------------------------------------------------------------------------


def stages_ensure_defaults(*, workspace: Workspace) -> list[Stage]:
    """The workspace's stages, creating New → Contacted → Qualified → Won / Lost on first use."""
    with workspace_scope(workspace):
        stages = list(Stage.objects.order_by("position", "name"))
        if stages:
            return stages
        Stage.objects.bulk_create(
            [
                Stage(workspace=workspace, name=name, position=position, kind=kind)
                for position, (name, kind) in enumerate(DEFAULT_STAGES)
            ],
            ignore_conflicts=True,  # another request may have just created them
        )
        return list(Stage.objects.order_by("position", "name"))


def _stage_audit(
    *, workspace: Workspace, actor: Actor, action: AuditAction, stage: Stage, **meta: object
) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        action=action,
        target=("stage", stage.pk),
        metadata=meta,
    )


def _refuse_stage_name_taken(*, name: str, exclude: Stage | None = None) -> None:
    others = Stage.objects.filter(name__iexact=name)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    if others.exists():
        raise ValidationError({"name": [_("Another stage already has this name.")]})


def _clean_kind(kind: object) -> str:
    if kind not in Stage.Kind.values:
        raise ValidationError({"kind": [_("Choose open, won or lost.")]})
    return str(kind)


@transaction.atomic
def stage_create(*, workspace: Workspace, actor: Actor, name: str, kind: str) -> Stage:
    """A new stage at the end of the pipeline."""
    require_capability(_role(actor), Capability.PIPELINE_CONFIGURE)
    data = validation.collect(
        {"name": lambda: validation.clean_stage_name(name), "kind": lambda: _clean_kind(kind)}
    )
    stages_ensure_defaults(workspace=workspace)
    with workspace_scope(workspace):
        _refuse_stage_name_taken(name=data["name"])
        last = Stage.objects.aggregate(last=Max("position"))["last"]
        stage = Stage.objects.create(
            workspace=workspace,
            name=data["name"],
            kind=data["kind"],
            position=0 if last is None else last + 1,
        )
        _stage_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.STAGE_CREATED,
            stage=stage,
            kind=stage.kind,
        )
    return stage


@transaction.atomic
def stage_rename(
    *, workspace: Workspace, actor: Actor, stage: Stage, name: str, kind: str | None = None
) -> Stage:
    """Rename a stage and optionally change its kind (open, won, lost)."""
    require_capability(_role(actor), Capability.PIPELINE_CONFIGURE)
    data = validation.collect(
        {
            "name": lambda: validation.clean_stage_name(name),
            "kind": lambda: stage.kind if kind is None else _clean_kind(kind),
        }
    )
    with workspace_scope(workspace):
        _refuse_stage_name_taken(name=data["name"], exclude=stage)
        changed = [field for field in ("name", "kind") if getattr(stage, field) != data[field]]
        if not changed:
            return stage
        stage.name = data["name"]
        stage.kind = data["kind"]
        stage.save(update_fields=["name", "kind"])
        _stage_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.STAGE_UPDATED,
            stage=stage,
            fields=changed,
        )
    return stage


@transaction.atomic
def stage_move(*, workspace: Workspace, actor: Actor, stage: Stage, direction: str) -> Stage:
    """Swap the stage with its neighbour ("up" or "down"); positions are renumbered 0..n."""
    require_capability(_role(actor), Capability.PIPELINE_CONFIGURE)
    if direction not in ("up", "down"):
        raise ValidationError({"direction": [_("Move a stage up or down.")]})
    with workspace_scope(workspace):
        ordered = list(Stage.objects.select_for_update().order_by("position", "name", "id"))
        index = next((i for i, s in enumerate(ordered) if s.pk == stage.pk), None)
        if index is None:
            raise Http404
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(ordered):
            return stage
        ordered[index], ordered[other] = ordered[other], ordered[index]
        Stage.objects.bulk_update(renumbered(ordered), ["position"])
        stage.position = other
        _stage_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.STAGE_UPDATED,
            stage=stage,
            fields=["position"],
            direction=direction,
        )
    return stage


@transaction.atomic
def stage_delete(*, workspace: Workspace, actor: Actor, stage: Stage) -> None:
    """Remove an empty stage. Stages holding leads (live or in the trash) stay."""
    require_capability(_role(actor), Capability.PIPELINE_CONFIGURE)
    with workspace_scope(workspace):
        held = Lead.objects.filter(stage=stage).count()
        if held:
            raise ValidationError(
                {
                    "stage": [
                        _(
                            "This stage still holds %(count)d lead(s), counting the trash. "
                            "Move them to another stage first."
                        )
                        % {"count": held}
                    ]
                }
            )
        if Stage.objects.count() <= 1:
            raise ValidationError({"stage": [_("A pipeline needs at least one stage.")]})
        _stage_audit(
            workspace=workspace, actor=actor, action=AuditAction.STAGE_DELETED, stage=stage
        )
        stage.delete()


# Create and dedupe ------------------------------------------------------------------------


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
    Many leads at once: ``heroshhi.leads.batch.leads_create_many``, same rules."""
    require_capability(_role(actor), Capability.LEADS_CREATE)
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
        phone_bidx = _phone_bidx(workspace, data["phone"])
        email_bidx = _email_bidx(workspace, data["email"])
        existing = _live_duplicate(phone_bidx=phone_bidx, email_bidx=email_bidx)
        if existing is not None:
            _enquired_again(workspace=workspace, actor=actor, lead=existing, data=data)
            return LeadCreateResult(lead=existing, created=False)
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
            or assignment.assignee_for_new_lead(workspace=workspace, source=data["source"]),
            deal_value=data["deal_value"],
            custom_values=data["custom"] or None,
        )
        lead.save(force_insert=True)
        _set_name_tokens(workspace=workspace, lead=lead, fresh=True)
        tags_found = tags_named(workspace=workspace, names=data["tags"])
        Lead.tags.through.objects.bulk_create(
            [Lead.tags.through(lead_id=lead.pk, tag_id=tag.pk) for tag in tags_found]
        )
        filled = created_fields(data)
        _timeline(
            workspace=workspace,
            actor=actor,
            lead=lead,
            kind=TimelineEvent.Kind.CREATED,
            data={"source": lead.source, "fields": filled},
        )
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_CREATED,
            lead=lead,
            metadata={"source": lead.source, "fields": filled, "tags": len(data["tags"])},
        )
    return LeadCreateResult(lead=lead, created=True)


def clean_lead_input(
    *,
    workspace: Workspace,
    name: object,
    phone: object,
    email: object,
    source: object,
    source_details: object,
    stage: Stage | None,
    owner: Membership | None,
    tags: Iterable[str],
    deal_value: object,
    description: object,
    custom_fields: Mapping[str, object] | None,
    custom_defs: Mapping[str, CustomField] | None = None,
) -> dict[str, Any]:
    """The checks of a new lead, every field error at once (one ValidationError).

    Shared with the batch path, which passes the workspace's active custom fields
    (``custom_defs``) so that each lead does not read them again."""
    data = validation.collect(
        {
            "name": lambda: validation.clean_name(name),
            "phone": lambda: validation.clean_phone(phone),
            "email": lambda: validation.clean_email(email),
            "description": lambda: validation.clean_description(description),
            "source": lambda: validation.clean_source(source),
            "source_details": lambda: validation.clean_source_details(source_details),
            "tags": lambda: validation.clean_tags(tags),
            "deal_value": lambda: validation.clean_deal_value(deal_value),
            "stage": lambda: None if stage is None else _ensure_own_stage(workspace, stage),
            "owner": lambda: _ensure_own_member(workspace, owner),
            "custom": lambda: _create_custom_values(workspace, custom_fields, custom_defs),
        }
    )
    if not (data["name"] or data["phone"] or data["email"]):
        raise ValidationError(
            {"name": [_("Give at least a name, a phone number or an e-mail address.")]}
        )
    return data


def created_fields(data: Mapping[str, Any]) -> list[str]:
    """The field names a new lead was given (timeline and audit carry names, not values)."""
    filled = [field for field in (*_FILLABLE, "deal_value") if data[field] is not None]
    return filled + [CUSTOM_FIELD_PREFIX + key for key in data["custom"]]


def _create_custom_values(
    workspace: Workspace,
    values: Mapping[str, object] | None,
    defs: Mapping[str, CustomField] | None = None,
) -> dict[str, str | None]:
    if values is None:
        return {}
    return custom_fields.clean_custom_values(
        workspace=workspace, values=values, partial=False, fields=defs
    )


def initial_owner_id(
    *, actor: Actor, owner: Membership | None, viewer: Viewer | None = None
) -> Any:
    """Sales own what they create (or they could not see it); assigning others needs ASSIGN.

    The actor's member is looked up only when the answer depends on it (``viewer``: the
    caller has it already)."""
    role = _role(actor)

    def member_id() -> Any:
        return (viewer or viewer_for(actor=actor)).member_id

    if owner is None:
        return None if has_capability(role, Capability.LEADS_VIEW_ALL) else member_id()
    if not has_capability(role, Capability.LEADS_ASSIGN) and owner.pk != member_id():
        raise PermissionDenied(Capability.LEADS_ASSIGN.value)
    return owner.pk


def _enquired_again(
    *, workspace: Workspace, actor: Actor, lead: Lead, data: dict[str, Any]
) -> None:
    filled = enquiry_fill(workspace=workspace, lead=lead, data=data)
    lead.save()
    if "name" in filled:
        _set_name_tokens(workspace=workspace, lead=lead)
    _timeline(
        workspace=workspace,
        actor=actor,
        lead=lead,
        kind=TimelineEvent.Kind.ENQUIRED_AGAIN,
        data={"source": data["source"], "fields": filled},
    )
    _audit(
        workspace=workspace,
        actor=actor,
        action=AuditAction.LEAD_UPDATED,
        lead=lead,
        reason="enquired_again",
        metadata={"source": data["source"], "fields": filled},
    )


def enquiry_fill(*, workspace: Workspace, lead: Lead, data: Mapping[str, Any]) -> list[str]:
    """Fill the lead's empty fields from a repeat enquiry (in memory, unsaved); returns the
    names of the fields filled. Shared with the batch path."""
    filled = [f for f in _FILLABLE if data[f] is not None and getattr(lead, f) in (None, "")]
    for field in filled:
        setattr(lead, field, data[field])
    if "phone" in filled:
        lead.phone_bidx = _phone_bidx(workspace, lead.phone)
    if "email" in filled:
        lead.email_bidx = _email_bidx(workspace, lead.email)
    if lead.deal_value is None and data["deal_value"] is not None:
        lead.deal_value = data["deal_value"]
        filled.append("deal_value")
    current = dict(lead.custom_values or {})
    new_custom = {key: value for key, value in data["custom"].items() if key not in current}
    if new_custom:
        lead.custom_values = current | new_custom
        filled += [CUSTOM_FIELD_PREFIX + key for key in new_custom]
    lead.updated_at = lead.last_activity_at = timezone.now()
    return filled


# Update ---------------------------------------------------------------------------------


@transaction.atomic
def lead_update(*, workspace: Workspace, actor: Actor, lead: Lead, **changes: Any) -> Lead:
    """Apply the given changes; records which fields changed, stage moves and assignment."""
    require_capability(_role(actor), Capability.LEADS_EDIT)
    unknown = sorted(set(changes) - _EDITABLE)
    if unknown:
        raise ValidationError({name: [_("This field cannot be changed.")] for name in unknown})
    with workspace_scope(workspace):
        viewer = viewer_for(actor=actor)
        _require_visible(viewer=viewer, lead=lead)
        changed = _apply_field_changes(workspace=workspace, lead=lead, changes=changes)
        changed += _apply_custom_changes(workspace=workspace, lead=lead, changes=changes)
        moves = _apply_moves(workspace=workspace, viewer=viewer, lead=lead, changes=changes)
        new_tags = _tag_change(workspace=workspace, lead=lead, changes=changes)
        if not (changed or moves or new_tags is not None):
            return lead
        lead.updated_at = lead.last_activity_at = timezone.now()
        lead.save()
        if "name" in changed:
            _set_name_tokens(workspace=workspace, lead=lead)
        if new_tags is not None:
            lead.tags.set(new_tags)
            changed.append("tags")
        if changed:
            _timeline(
                workspace=workspace,
                actor=actor,
                lead=lead,
                kind=TimelineEvent.Kind.UPDATED,
                data={"fields": changed},
            )
        for kind, data in moves:
            _timeline(workspace=workspace, actor=actor, lead=lead, kind=kind, data=data)
        _audit(
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
        lead.phone_bidx = _phone_bidx(workspace, lead.phone)
        _refuse_taken(lead=lead, field="phone", lookup={"phone_bidx": lead.phone_bidx})
    if "email" in changed:
        lead.email_bidx = _email_bidx(workspace, lead.email)
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
        stage = _ensure_own_stage(workspace, changes["stage"])
        if stage.pk != lead.stage_id:
            moves.append(
                (
                    TimelineEvent.Kind.STAGE_CHANGED,
                    {"from": str(lead.stage_id), "to": str(stage.pk)},
                )
            )
            lead.stage = stage
    if "owner" in changes:
        owner = _ensure_own_member(workspace, changes["owner"])
        owner_id = None if owner is None else owner.pk
        if owner_id != lead.owner_id:
            require_capability(viewer.role, Capability.LEADS_ASSIGN)
            moves.append(
                (
                    TimelineEvent.Kind.ASSIGNED,
                    {"from": _id_or_none(lead.owner_id), "to": _id_or_none(owner_id)},
                )
            )
            lead.owner = owner
    return moves


def _id_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _tag_change(*, workspace: Workspace, lead: Lead, changes: dict[str, Any]) -> list[Tag] | None:
    if "tags" not in changes:
        return None
    names = validation.collect({"tags": lambda: validation.clean_tags(changes["tags"])})["tags"]
    if set(names) == {tag.name for tag in lead.tags.all()}:
        return None
    return tags_named(workspace=workspace, names=names)


# Trash, restore, delete ------------------------------------------------------------------


@transaction.atomic
def lead_trash(*, workspace: Workspace, actor: Actor, lead: Lead) -> Lead:
    require_capability(_role(actor), Capability.LEADS_DELETE)
    with workspace_scope(workspace):
        _require_visible(viewer=viewer_for(actor=actor), lead=lead)
        lead.deleted_at = timezone.now()
        lead.save()
        _timeline(
            workspace=workspace, actor=actor, lead=lead, kind=TimelineEvent.Kind.DELETED, data={}
        )
        _audit(
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
    require_capability(_role(actor), Capability.LEADS_DELETE)
    with workspace_scope(workspace):
        _require_visible(viewer=viewer_for(actor=actor), lead=lead, live=False)
        assert lead.deleted_at is not None  # checked just above
        if lead.deleted_at < timezone.now() - timedelta(days=TRASH_RETENTION_DAYS):
            raise ValidationError(
                {"lead": [_("This lead was deleted more than 30 days ago and cannot come back.")]}
            )
        lead.deleted_at = None
        lead.save()
        _timeline(
            workspace=workspace, actor=actor, lead=lead, kind=TimelineEvent.Kind.RESTORED, data={}
        )
        _audit(
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
    require_capability(_role(actor), Capability.LEADS_DELETE_NOW)
    with workspace_scope(workspace):
        notes = Note.objects.filter(lead=lead).count()
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.DATA_DELETE,
            lead=lead,
            metadata={"entity": "lead", "notes": notes},
        )
        lead.delete()


# Bulk actions ----------------------------------------------------------------------------

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
    require_capability(_role(actor), bulk_cap)
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


# Notes and reads --------------------------------------------------------------------------


@transaction.atomic
def note_add(*, workspace: Workspace, actor: Actor, lead: Lead, body: str) -> Note:
    require_capability(_role(actor), Capability.NOTES_WRITE)
    text = validation.clean_note_body(body)
    with workspace_scope(workspace):
        viewer = viewer_for(actor=actor)
        _require_visible(viewer=viewer, lead=lead)
        note = Note.objects.create(
            workspace=workspace, lead=lead, author_id=viewer.member_id, body=text
        )
        lead.last_activity_at = timezone.now()
        lead.save()
        _timeline(
            workspace=workspace,
            actor=actor,
            lead=lead,
            kind=TimelineEvent.Kind.NOTE_ADDED,
            data={"note": str(note.pk)},
        )
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_UPDATED,
            lead=lead,
            metadata={"fields": ["notes"]},
        )
    return note


# Tasks ----------------------------------------------------------------------------------


def _task_lead_visible(*, actor: Actor, task: Task) -> Viewer:
    viewer = viewer_for(actor=actor)
    _require_visible(viewer=viewer, lead=task.lead)
    return viewer


def _task_timeline_and_audit(
    *, workspace: Workspace, actor: Actor, task: Task, kind: str, reason: str
) -> None:
    _timeline(
        workspace=workspace, actor=actor, lead=task.lead, kind=kind, data={"task": str(task.pk)}
    )
    _audit(
        workspace=workspace,
        actor=actor,
        action=AuditAction.LEAD_UPDATED,
        lead=task.lead,
        reason=reason,
        metadata={"fields": ["tasks"], "task": str(task.pk)},
    )


@transaction.atomic
def task_create(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    title: str,
    due_at: datetime,
    assignee: Membership | None = None,
) -> Task:
    """A follow-up on a lead. Unless told otherwise it goes to the lead's owner, else to
    whoever creates it. Sales may add tasks only on their own leads, for themselves."""
    require_capability(_role(actor), Capability.TASKS_WRITE)
    data = validation.collect(
        {
            "title": lambda: validation.clean_task_title(title),
            "assignee": lambda: _ensure_own_member(workspace, assignee),
        }
    )
    if timezone.is_naive(due_at):
        raise ValidationError({"due_at": [_("Give the due time with its time zone.")]})
    with workspace_scope(workspace):
        viewer = viewer_for(actor=actor)
        _require_visible(viewer=viewer, lead=lead)
        chosen: Membership | None = data["assignee"]
        chosen_id = chosen.pk if chosen is not None else (lead.owner_id or viewer.member_id)
        if not viewer.sees_all and chosen_id != viewer.member_id:
            raise PermissionDenied(Capability.LEADS_ASSIGN.value)
        task = Task.objects.create(
            workspace=workspace,
            lead=lead,
            title=data["title"],
            due_at=due_at,
            assignee_id=chosen_id,
            created_by_id=viewer.member_id,
        )
        lead.last_activity_at = timezone.now()
        lead.save(update_fields=["last_activity_at"])
        _task_timeline_and_audit(
            workspace=workspace,
            actor=actor,
            task=task,
            kind=TimelineEvent.Kind.TASK_ADDED,
            reason="task_added",
        )
    return task


@transaction.atomic
def task_complete(*, workspace: Workspace, actor: Actor, task: Task) -> Task:
    require_capability(_role(actor), Capability.TASKS_WRITE)
    with workspace_scope(workspace):
        _task_lead_visible(actor=actor, task=task)
        if task.done_at is not None:
            return task
        task.done_at = timezone.now()
        task.save(update_fields=["done_at"])
        _task_timeline_and_audit(
            workspace=workspace,
            actor=actor,
            task=task,
            kind=TimelineEvent.Kind.TASK_DONE,
            reason="task_done",
        )
    return task


@transaction.atomic
def task_reopen(*, workspace: Workspace, actor: Actor, task: Task) -> Task:
    require_capability(_role(actor), Capability.TASKS_WRITE)
    with workspace_scope(workspace):
        _task_lead_visible(actor=actor, task=task)
        if task.done_at is None:
            return task
        task.done_at = None
        # A reopened task that is already due gets a fresh reminder.
        task.reminded_at = None
        task.save(update_fields=["done_at", "reminded_at"])
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.LEAD_UPDATED,
            lead=task.lead,
            reason="task_reopened",
            metadata={"fields": ["tasks"], "task": str(task.pk)},
        )
    return task


REMINDER_BATCH = 500


def task_reminders_send(*, now: datetime | None = None) -> int:
    """Remind assignees of open tasks that have fallen due, once each.

    Each task is claimed with a conditional UPDATE (``reminded_at`` still empty), so two
    workers running at once never remind twice. Returns how many reminders were made."""
    now = now or timezone.now()
    sent = 0
    while True:
        # The one cross-workspace read of tasks: which are due, by id.
        due = list(
            Task.objects.unscoped()
            .filter(
                done_at__isnull=True,
                reminded_at__isnull=True,
                due_at__lte=now,
                lead__deleted_at__isnull=True,
            )
            .order_by("due_at", "id")
            .values_list("pk", "workspace_id", "assignee_id", "lead_id")[:REMINDER_BATCH]
        )
        if not due:
            return sent
        for task_id, workspace_id, assignee_id, lead_id in due:
            sent += _task_remind(
                task_id=task_id, workspace_id=workspace_id, assignee_id=assignee_id, lead_id=lead_id
            )


@transaction.atomic
def _task_remind(*, task_id: Any, workspace_id: Any, assignee_id: Any, lead_id: Any) -> int:
    with workspace_scope(workspace_id):
        claimed = Task.objects.filter(
            pk=task_id, reminded_at__isnull=True, done_at__isnull=True
        ).update(reminded_at=timezone.now())
        if claimed != 1 or assignee_id is None:
            return 0
        Notification.objects.create(
            workspace_id=workspace_id,
            recipient_id=assignee_id,
            kind=Notification.Kind.TASK_DUE,
            lead_id=lead_id,
            task_id=task_id,
        )
    return 1


def leads_export_record(
    *, workspace: Workspace, actor: Actor, count: int, filters: list[str]
) -> None:
    """The audit event of one export: how many rows and which filters (names only)."""
    require_capability(_role(actor), Capability.LEADS_EXPORT)
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


# Purge ----------------------------------------------------------------------------------


def leads_purge_trashed(*, now: datetime | None = None) -> int:
    """Hard-delete leads trashed more than 30 days ago, in every workspace (P14)."""
    cutoff = (now or timezone.now()) - timedelta(days=TRASH_RETENTION_DAYS)
    deleted = 0
    for workspace in _workspaces_with_expired_trash(cutoff=cutoff):
        while batch := _purge_batch(workspace=workspace, cutoff=cutoff):
            deleted += batch
    return deleted


def _workspaces_with_expired_trash(*, cutoff: datetime) -> list[Workspace]:
    """The one cross-workspace read of leads: which workspaces have trash to purge."""
    ids = (
        Lead.objects.unscoped()
        .filter(deleted_at__lt=cutoff)
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    return list(Workspace.objects.filter(pk__in=list(ids)))


@transaction.atomic
def _purge_batch(*, workspace: Workspace, cutoff: datetime) -> int:
    with workspace_scope(workspace):
        ids = list(
            Lead.objects.filter(deleted_at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            return 0
        # Notes, timeline, name tokens and tag links go with the leads (FK cascade).
        _total, per_model = Lead.objects.filter(pk__in=ids).delete()
        count = per_model.get(Lead._meta.label, 0)
        audit_record(
            workspace=workspace,
            actor=Actor.system(),
            action=AuditAction.DATA_DELETE,
            reason="retention",
            metadata={"entity": "lead", "count": count},
        )
    return count


def leads_hand_back(
    *, workspace: Workspace, actor: Actor, member: Membership, reassign_to: Membership | None
) -> int:
    """Move every live and trashed lead owned by ``member`` to ``reassign_to`` (None: the
    unassigned pool), with an ``assigned`` timeline entry each. Used when a member leaves;
    the caller holds the transaction and audits the removal. Returns how many moved."""
    with workspace_scope(workspace):
        lead_ids = list(Lead.objects.filter(owner=member).values_list("pk", flat=True))
        if not lead_ids:
            return 0
        Lead.objects.filter(pk__in=lead_ids).update(owner=reassign_to, updated_at=timezone.now())
        data = {"from": str(member.pk), "to": _id_or_none(reassign_to.pk if reassign_to else None)}
        TimelineEvent.objects.bulk_create(
            TimelineEvent(
                workspace=workspace,
                lead_id=lead_id,
                kind=TimelineEvent.Kind.ASSIGNED,
                actor_type=actor.type.value,
                actor_id=actor.id or "",
                data=data,
            )
            for lead_id in lead_ids
        )
    return len(lead_ids)
