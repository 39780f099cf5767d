"""Many new leads in one transaction: the API's batch endpoint and the CSV import.

Every item follows ``lead_create``'s rules: the same validation and custom-field checks,
dedupe by phone, then e-mail, against live leads and the items before it in the batch
("enquired again" fills the empty fields of the lead it matches), the same owner rules
(sales own what they create, assigning others needs LEADS_ASSIGN, ownerless leads go
through the workspace's assignment rules) and a timeline entry and an audit event per
item. The result is what running ``lead_create`` once per item, in order, would give.

What changes is the cost: the batch reads the stages, the members and the custom fields
once, finds duplicates with one query per key type, claims all its round-robin turns with
one statement, and writes leads, name tokens, tag links, timeline entries and audit
events with one INSERT each. An item's error never sinks the others: it comes back as
status ``error`` with its field errors, and the rest are written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import AuditRecord, audit_record_many
from heroshhi.core.actors import Actor
from heroshhi.core.bulk import rows_insert
from heroshhi.core.crypto import EMAIL, PHONE, blind_index, blind_index_memo, name_tokens
from heroshhi.core.crypto.blind_indexes import blind_index_of_normalised
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import custom_fields
from heroshhi.leads.models import CustomField, Lead, LeadNameToken, Stage, TimelineEvent
from heroshhi.leads.selectors import viewer_for
from heroshhi.leads.services.assignment import assignees_for_new_leads
from heroshhi.leads.services.common import tags_named
from heroshhi.leads.services.lead_rules import (
    clean_lead_input,
    created_fields,
    enquiry_fill,
    initial_owner_id,
)
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

BATCH_MAX = 500
# The CSV import's batches: bigger ones spread the per-batch reads, locks and commits over
# more rows; a client's API call stays at BATCH_MAX.
IMPORT_BATCH_MAX = 2000
# Fields a repeat enquiry may write on a lead that already exists.
_FILL_COLUMNS = (
    "name",
    "phone",
    "email",
    "description",
    "phone_bidx",
    "email_bidx",
    "deal_value",
    "custom_values",
    "updated_at",
    "last_activity_at",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadItem:
    """One lead to create, as ``lead_create`` takes it. ``stage`` and ``owner`` may be the
    objects or their ids as a client sent them (checked against the workspace's)."""

    name: object = None
    phone: object = None
    email: object = None
    source: object
    source_details: object = None
    stage: Stage | str | uuid.UUID | None = None
    owner: Membership | str | uuid.UUID | None = None
    tags: Iterable[str] = ()
    deal_value: Decimal | int | str | None = None
    description: object = None
    custom_fields: Mapping[str, object] | None = None


class ItemStatus(StrEnum):
    CREATED = "created"
    DEDUPLICATED = "deduplicated"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ItemResult:
    index: int
    status: ItemStatus
    lead: Lead | None = None
    # For errors: "validation_error" or "forbidden", and messages by field name.
    code: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class _Lookups:
    """What every item is checked against, read once per batch."""

    stages: dict[uuid.UUID, Stage]
    default_stage: Stage
    members: dict[uuid.UUID, Membership]
    custom_defs: dict[str, CustomField] | None


@dataclass(slots=True)
class _Work:
    """The rows the batch writes, collected while the items are resolved in order."""

    new_leads: list[Lead] = field(default_factory=list)
    new_tags: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    # Created leads still waiting for an assignment rule, with their source.
    unowned: list[tuple[Lead, str]] = field(default_factory=list)
    filled_existing: dict[uuid.UUID, Lead] = field(default_factory=dict)
    renamed_existing: set[uuid.UUID] = field(default_factory=set)
    timeline: list[TimelineEvent] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)


def _too_many(count: int, limit: int) -> ValidationError:
    return ValidationError(
        {"items": [_("Send at most %(max)d leads at a time.") % {"max": limit}]}
        if count > limit
        else {"items": [_("Send at least one lead.")]}
    )


@transaction.atomic
def leads_create_many(
    *, workspace: Workspace, actor: Actor, items: Sequence[LeadItem], limit: int = BATCH_MAX
) -> list[ItemResult]:
    """Create (or deduplicate) up to ``limit`` leads (BATCH_MAX, or IMPORT_BATCH_MAX for
    the CSV import); one result per item, in order."""
    if not actor.role:
        raise PermissionDenied("leads.no_role")
    require_capability(actor.role, Capability.LEADS_CREATE)
    if not 0 < len(items) <= min(limit, IMPORT_BATCH_MAX):
        raise _too_many(len(items), min(limit, IMPORT_BATCH_MAX))
    with workspace_scope(workspace), blind_index_memo():
        try:
            with transaction.atomic():
                return _create_many(workspace=workspace, actor=actor, items=items)
        except IntegrityError:
            # Live leads never share a phone (a unique index): a concurrent create took one
            # of these numbers first and has committed. Once more, now that its lead is
            # visible, so that item becomes a repeat enquiry like any other.
            return _create_many(workspace=workspace, actor=actor, items=items)


def _create_many(
    *, workspace: Workspace, actor: Actor, items: Sequence[LeadItem]
) -> list[ItemResult]:
    lookups = _lookups(workspace=workspace, items=items)
    results: dict[int, ItemResult] = {}
    cleaned: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        try:
            cleaned.append((index, _clean(workspace=workspace, item=item, lookups=lookups)))
        except ValidationError as exc:
            results[index] = _error(index, "validation_error", exc.message_dict)
    work = _Work()
    _resolve(
        workspace=workspace,
        actor=actor,
        cleaned=cleaned,
        lookups=lookups,
        work=work,
        results=results,
    )
    _assign(workspace=workspace, work=work)
    _write(workspace=workspace, actor=actor, work=work)
    return [results[index] for index in range(len(items))]


def _error(index: int, code: str, errors: Mapping[str, list[str]]) -> ItemResult:
    return ItemResult(
        index=index,
        status=ItemStatus.ERROR,
        code=code,
        errors={k: list(v) for k, v in errors.items()},
    )


def _lookups(*, workspace: Workspace, items: Sequence[LeadItem]) -> _Lookups:
    stages = stages_ensure_defaults(workspace=workspace)
    member_ids = {
        _as_uuid(item.owner) for item in items if not isinstance(item.owner, Membership | None)
    } - {None}
    members = {m.pk: m for m in Membership.objects.filter(pk__in=member_ids)} if member_ids else {}
    wants_custom = any(item.custom_fields is not None for item in items)
    return _Lookups(
        stages={stage.pk: stage for stage in stages},
        default_stage=stages[0],
        members=members,
        custom_defs=custom_fields.active_fields_by_key(workspace=workspace)
        if wants_custom
        else None,
    )


def _as_uuid(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def _pick(value: object, known: Mapping[uuid.UUID, object], *, kind: type, name: str) -> Any:
    """An object given as itself or as the id of one of ``known``; else a field error."""
    if value is None or isinstance(value, kind):
        return value
    uid = _as_uuid(value)
    if uid is None or uid not in known:
        raise ValidationError({name: [_("Choose a valid option.")]})
    return known[uid]


def _clean(*, workspace: Workspace, item: LeadItem, lookups: _Lookups) -> dict[str, Any]:
    """``lead_create``'s checks for one item, every field error at once."""
    errors: dict[str, list[str]] = {}
    picked: dict[str, Any] = {"stage": None, "owner": None}
    for name, known, kind in (
        ("stage", lookups.stages, Stage),
        ("owner", lookups.members, Membership),
    ):
        try:
            picked[name] = _pick(getattr(item, name), known, kind=kind, name=name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        data = clean_lead_input(
            workspace=workspace,
            name=item.name,
            phone=item.phone,
            email=item.email,
            source=item.source,
            source_details=item.source_details,
            stage=picked["stage"],
            owner=picked["owner"],
            tags=item.tags,
            deal_value=item.deal_value,
            description=item.description,
            custom_fields=item.custom_fields,
            custom_defs=lookups.custom_defs,
        )
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    phone, email = data["phone"], data["email"]
    # The phone is clean_phone's E.164 output already: no second parse.
    data["phone_bidx"] = (
        None if phone is None else blind_index_of_normalised(workspace.pk, PHONE, phone)
    )
    data["email_bidx"] = None if email is None else blind_index(workspace.pk, EMAIL, email)
    return data


def _live_leads_by(field_name: str, values: set[str]) -> dict[str, Lead]:
    """The oldest live lead per blind index value, locked like ``lead_create``'s dedupe."""
    if not values:
        return {}
    found: dict[str, Lead] = {}
    rows = (
        Lead.objects.select_for_update()
        .filter(deleted_at__isnull=True, **{f"{field_name}__in": values})
        .order_by("created_at", "id")
    )
    for lead in rows:
        found.setdefault(getattr(lead, field_name), lead)
    return found


def _resolve(
    *,
    workspace: Workspace,
    actor: Actor,
    cleaned: list[tuple[int, dict[str, Any]]],
    lookups: _Lookups,
    work: _Work,
    results: dict[int, ItemResult],
) -> None:
    """Walk the valid items in order: each creates a lead or fills the lead it matches."""
    by_phone = _live_leads_by("phone_bidx", {d["phone_bidx"] for _i, d in cleaned} - {None})
    by_email = _live_leads_by("email_bidx", {d["email_bidx"] for _i, d in cleaned} - {None})
    # The two reads may return the same row; keep one object per lead.
    existing = {lead.pk: lead for lead in (*by_phone.values(), *by_email.values())}
    by_phone = {key: existing[lead.pk] for key, lead in by_phone.items()}
    by_email = {key: existing[lead.pk] for key, lead in by_email.items()}
    viewer = viewer_for(actor=actor)
    for index, data in cleaned:
        target = by_phone.get(data["phone_bidx"]) if data["phone_bidx"] else None
        if target is None and data["email_bidx"]:
            target = by_email.get(data["email_bidx"])
        if target is None:
            try:
                owner_id = initial_owner_id(actor=actor, owner=data["owner"], viewer=viewer)
            except PermissionDenied:
                results[index] = _error(
                    index, "forbidden", {"owner": [_("You may not assign leads to others.")]}
                )
                continue
            lead = _new_lead(workspace=workspace, data=data, lookups=lookups, owner_id=owner_id)
            work.new_leads.append(lead)
            work.new_tags[lead.pk] = data["tags"]
            if owner_id is None:
                work.unowned.append((lead, data["source"]))
            filled = created_fields(data)
            _note(work, actor, lead, TimelineEvent.Kind.CREATED, data["source"], filled)
            work.audit.append(
                AuditRecord(
                    action=AuditAction.LEAD_CREATED,
                    target=("lead", lead.pk),
                    metadata={"source": lead.source, "fields": filled, "tags": len(data["tags"])},
                )
            )
            results[index] = ItemResult(index=index, status=ItemStatus.CREATED, lead=lead)
            target = lead
        else:
            filled = enquiry_fill(workspace=workspace, lead=target, data=data)
            if target.pk in existing:
                work.filled_existing[target.pk] = target
                if "name" in filled:
                    work.renamed_existing.add(target.pk)
            _note(work, actor, target, TimelineEvent.Kind.ENQUIRED_AGAIN, data["source"], filled)
            work.audit.append(
                AuditRecord(
                    action=AuditAction.LEAD_UPDATED,
                    target=("lead", target.pk),
                    reason="enquired_again",
                    metadata={"source": data["source"], "fields": filled},
                )
            )
            results[index] = ItemResult(index=index, status=ItemStatus.DEDUPLICATED, lead=target)
        # A phone or e-mail the lead has now finds it for the items that follow.
        if target.phone_bidx:
            by_phone.setdefault(target.phone_bidx, target)
        if target.email_bidx:
            by_email.setdefault(target.email_bidx, target)


def _new_lead(
    *, workspace: Workspace, data: dict[str, Any], lookups: _Lookups, owner_id: Any
) -> Lead:
    return Lead(
        workspace=workspace,
        name=data["name"],
        phone=data["phone"],
        email=data["email"],
        description=data["description"],
        phone_bidx=data["phone_bidx"],
        email_bidx=data["email_bidx"],
        source=data["source"],
        source_details=data["source_details"],
        stage=data["stage"] or lookups.default_stage,
        owner_id=owner_id,
        deal_value=data["deal_value"],
        custom_values=data["custom"] or None,
    )


def _note(work: _Work, actor: Actor, lead: Lead, kind: str, source: str, filled: list[str]) -> None:
    work.timeline.append(
        TimelineEvent(
            workspace_id=lead.workspace_id,
            lead_id=lead.pk,
            kind=kind,
            actor_type=actor.type.value,
            actor_id=actor.id or "",
            data={"source": source, "fields": filled},
        )
    )


def _assign(*, workspace: Workspace, work: _Work) -> None:
    """Ownerless new leads through the assignment rules, all turns claimed at once."""
    owners = assignees_for_new_leads(
        workspace=workspace, sources=[source for _lead, source in work.unowned]
    )
    for (lead, _source), owner_id in zip(work.unowned, owners, strict=True):
        lead.owner_id = owner_id


def _write(*, workspace: Workspace, actor: Actor, work: _Work) -> None:
    rows_insert(Lead, work.new_leads, workspace_id=workspace.pk)
    for lead in work.filled_existing.values():
        lead.save(update_fields=_FILL_COLUMNS)
    if work.renamed_existing:
        LeadNameToken.objects.filter(lead_id__in=work.renamed_existing).delete()
    named = [*work.new_leads, *(work.filled_existing[pk] for pk in work.renamed_existing)]
    rows_insert(
        LeadNameToken,
        [
            LeadNameToken(
                workspace_id=workspace.pk,
                lead_id=lead.pk,
                token=token,
                lead_created_at=lead.created_at,
            )
            for lead in named
            for token in name_tokens(workspace.pk, lead.name or "")
        ],
        workspace_id=workspace.pk,
    )
    names = sorted({name for tags in work.new_tags.values() for name in tags})
    tag_ids = {tag.name: tag.pk for tag in tags_named(workspace=workspace, names=names)}
    through = Lead.tags.through
    through.objects.bulk_create(
        through(lead_id=lead_id, tag_id=tag_ids[name])
        for lead_id, tags in work.new_tags.items()
        for name in tags
    )
    rows_insert(TimelineEvent, work.timeline, workspace_id=workspace.pk)
    audit_record_many(workspace=workspace, actor=actor, records=work.audit)
