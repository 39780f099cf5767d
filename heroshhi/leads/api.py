"""REST endpoints for leads and their notes, under /api/v1/leads.

An API key acts with its role and no member of its own, so a ``sales`` key can create
leads but sees none (sales see only leads assigned to them).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field, StrictBool, StrictInt, WithJsonSchema
from pydantic import ValidationError as PydanticValidationError

from heroshhi.core.actors import Actor
from heroshhi.core.openapi_content import CSV
from heroshhi.core.schemas import ID_TEXT_MAX, InputSchema, column_max, field_errors
from heroshhi.leads import custom_fields, selectors
from heroshhi.leads.access import access_lead
from heroshhi.leads.export import leads_csv_response
from heroshhi.leads.models import CustomField, Lead, Note, Tag
from heroshhi.leads.services import batch
from heroshhi.leads.services.leads import lead_create, lead_update
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.sensitive_reads import lead_record_view
from heroshhi.leads.services.trash import lead_restore, lead_trash
from heroshhi.leads.validation import DESCRIPTION_MAX, NAME_MAX, NOTE_MAX, TAGS_PER_LEAD_MAX
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

router = Router(tags=["leads"])
_PAGING_PARAMS = frozenset({"cursor", "limit"})


class StageOut(Schema):
    id: uuid.UUID
    name: str
    kind: str


class LeadOut(Schema):
    id: uuid.UUID
    name: str | None
    phone: str | None
    email: str | None
    description: str | None
    source: str
    source_details: dict[str, str]
    stage: StageOut
    owner: uuid.UUID | None
    tags: list[str]
    deal_value: Decimal | None
    custom_fields: dict[str, str] = Field(
        description="Values of the workspace's custom fields by key: text, a decimal number "
        "as a string, a date as YYYY-MM-DD, or one of a choice field's options."
    )
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    deleted_at: datetime | None


class LeadPageOut(Schema):
    items: list[LeadOut]
    next_cursor: str | None


class LeadWriteOut(Schema):
    deduplicated: bool
    lead: LeadOut | None = Field(
        description="Empty when the lead it merged into is assigned to someone else."
    )


TagText = Annotated[str, Field(max_length=column_max(Tag, "name"))]
# The column's 12 digits and 2 decimals; the text form as long as its longest value.
Amount = Annotated[
    Decimal,
    Field(max_digits=14),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 20}]}, mode="validation"
    ),
]
DATE_TEXT_MAX = len("YYYY-MM-DD")


class LeadIn(InputSchema):
    name: str | None = Field(None, max_length=NAME_MAX)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    source: str = Field("api", max_length=column_max(Lead, "source"))
    source_details: dict[str, str] | None = None
    stage: str | None = Field(None, max_length=ID_TEXT_MAX)
    owner: str | None = Field(None, max_length=ID_TEXT_MAX)
    tags: list[TagText] = Field(default_factory=list, max_length=TAGS_PER_LEAD_MAX)
    deal_value: Amount | None = None
    custom_fields: dict[str, Any] | None = Field(
        None,
        description="Custom field values by key. Sending this object (even empty) makes the "
        "workspace's required custom fields mandatory.",
    )


class LeadPatchIn(InputSchema):
    name: str | None = Field(None, max_length=NAME_MAX)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    source_details: dict[str, str] | None = None
    stage: str | None = Field(None, max_length=ID_TEXT_MAX)
    owner: str | None = Field(None, max_length=ID_TEXT_MAX)
    tags: list[TagText] | None = Field(None, max_length=TAGS_PER_LEAD_MAX)
    deal_value: Amount | None = None
    custom_fields: dict[str, Any] | None = Field(
        None, description="Custom field values to change by key; null clears one."
    )


class NoteIn(InputSchema):
    body: str = Field(max_length=NOTE_MAX)


class NoteOut(Schema):
    id: uuid.UUID
    body: str
    author: uuid.UUID | None
    created_at: datetime


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return request.workspace, request.actor  # type: ignore[attr-defined]


def _fields(workspace: Workspace) -> list[CustomField]:
    return custom_fields.custom_fields_list(workspace=workspace)


def _lead_out(
    lead: Lead, fields: list[CustomField], tag_names: Iterable[str] | None = None
) -> LeadOut:
    """``fields``: the workspace's active custom fields (archived values stay hidden);
    ``tag_names``: the lead's tags when the caller knows them (else they are read)."""
    if tag_names is None:
        tag_names = (tag.name for tag in lead.tags.all())
    return LeadOut(
        id=lead.pk,
        name=lead.name,
        phone=lead.phone,
        email=lead.email,
        description=lead.description,
        source=lead.source,
        source_details=lead.source_details,
        stage=StageOut(id=lead.stage.pk, name=lead.stage.name, kind=lead.stage.kind),
        owner=lead.owner_id,
        tags=sorted(tag_names),
        deal_value=lead.deal_value,
        custom_fields=custom_fields.visible_values(lead.custom_values, fields),
        created_at=lead.created_at,
        updated_at=lead.updated_at,
        last_activity_at=lead.last_activity_at,
        deleted_at=lead.deleted_at,
    )


def _note_out(note: Note) -> NoteOut:
    return NoteOut(id=note.pk, body=note.body, author=note.author_id, created_at=note.created_at)


def _access(request: HttpRequest, lead_id: str, perm: Capability, *, trashed: bool = False) -> Lead:
    workspace, actor = _context(request)
    return access_lead(
        workspace=workspace,
        actor_role=actor.role or "",
        member_id=None,  # an API key is no member
        uid=lead_id,
        perm=perm,
        trashed=trashed,
    )


@router.get("", response=LeadPageOut)
def leads_list(
    request: HttpRequest,
    stage: str | None = None,
    owner: str | None = None,
    source: str | None = None,
    tag: str | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    trashed: str | None = None,
    has_overdue_task: str | None = None,
    opted_out: str | None = None,
    cursor: str | None = None,
    limit: int = selectors.PAGE_SIZE,
) -> LeadPageOut:
    """Filtered list. Search terms (names, phones, e-mails) are personal data and never go
    in a URL: search with ``POST /leads/search`` instead."""
    # The raw query is parsed again so unknown keys and repeated values are refused.
    raw = {key: values for key, values in request.GET.lists() if key not in _PAGING_PARAMS}
    return _page(request, raw, allowed=selectors.FILTER_KEYS - {"q"}, cursor=cursor, limit=limit)


class LeadSearchIn(InputSchema):
    q: str = Field(default="", max_length=selectors.FILTER_VALUE_MAX)
    stage: str | None = Field(None, max_length=ID_TEXT_MAX)
    owner: str | None = Field(None, max_length=ID_TEXT_MAX)
    source: str | None = Field(None, max_length=column_max(Lead, "source"))
    tag: str | None = Field(None, max_length=column_max(Tag, "name"))
    created_from: str | None = Field(None, max_length=DATE_TEXT_MAX)
    created_to: str | None = Field(None, max_length=DATE_TEXT_MAX)
    # Strict: 0 or "yes" for a flag and false for the limit are refused, not converted.
    trashed: StrictBool = False
    has_overdue_task: StrictBool = False
    opted_out: StrictBool = False
    cursor: str | None = Field(None, max_length=selectors.FILTER_VALUE_MAX)
    limit: StrictInt = selectors.PAGE_SIZE


@router.post("/search", response=LeadPageOut)
def leads_search(request: HttpRequest, payload: LeadSearchIn) -> LeadPageOut:
    """Search by name words, a phone number in any common format, or an e-mail address,
    combined with the same filters as the list."""
    raw = payload.model_dump(exclude={"cursor", "limit"}, exclude_none=True)
    raw["trashed"] = "true" if payload.trashed else ""
    raw["has_overdue_task"] = "true" if payload.has_overdue_task else ""
    raw["opted_out"] = "true" if payload.opted_out else ""
    return _page(request, raw, cursor=payload.cursor, limit=payload.limit)


def _page(
    request: HttpRequest,
    raw: dict[str, Any],
    *,
    cursor: str | None,
    limit: int,
    allowed: frozenset[str] = selectors.FILTER_KEYS,
) -> LeadPageOut:
    workspace, actor = _context(request)
    page = selectors.leads_list(
        workspace=workspace,
        viewer=selectors.viewer_for(actor=actor),
        filters=selectors.parse_lead_filters(raw, allowed=allowed),
        after=cursor,
        limit=limit,
    )
    fields = _fields(workspace)
    return LeadPageOut(
        items=[
            _lead_out(lead, fields, [tag.name for tag in lead.listed_tags]) for lead in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.post("", response={200: LeadWriteOut, 201: LeadWriteOut})
def leads_create(request: HttpRequest, payload: LeadIn) -> Status[LeadWriteOut]:
    workspace, actor = _context(request)
    result = lead_create(
        workspace=workspace,
        actor=actor,
        name=payload.name,
        phone=payload.phone,
        email=payload.email,
        source=payload.source,
        source_details=payload.source_details,
        stage=None
        if payload.stage is None
        else selectors.stage_for_input(workspace=workspace, value=payload.stage),
        owner=None
        if payload.owner is None
        else selectors.member_for_input(workspace=workspace, value=payload.owner),
        tags=payload.tags,
        deal_value=payload.deal_value,
        description=payload.description,
        custom_fields=payload.custom_fields,
    )
    visible = selectors.lead_is_visible(viewer=selectors.viewer_for(actor=actor), lead=result.lead)
    lead = result.lead
    # Without custom values there is nothing for the field list to show or hide.
    fields = _fields(workspace) if lead.custom_values else []
    body = LeadWriteOut(
        deduplicated=not result.created,
        lead=_lead_out(lead, fields, result.tag_names) if visible else None,
    )
    return Status(201 if result.created else 200, body)


class LeadBatchIn(Schema):
    """Each item is checked as a ``LeadIn`` on its own, so one bad item is reported in its
    result instead of refusing the whole batch."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[
        list[dict[str, Any]],
        WithJsonSchema(
            {
                "type": "array",
                "items": LeadIn.model_json_schema(),
                "minItems": 1,
                "maxItems": batch.BATCH_MAX,
            }
        ),
    ] = Field(min_length=1, max_length=batch.BATCH_MAX)


class BatchItemError(Schema):
    code: str = Field(description="validation_error or forbidden")
    message: str
    fields: dict[str, list[str]]


class BatchItemOut(Schema):
    index: int
    status: str = Field(description="created, deduplicated or error")
    id: uuid.UUID | None = Field(
        None, description="Empty for errors and for leads this key may not see."
    )
    error: BatchItemError | None = None


class LeadBatchOut(Schema):
    created: int
    deduplicated: int
    failed: int
    results: list[BatchItemOut]


_BATCH_MESSAGES = {
    "validation_error": "Some fields are invalid.",
    "forbidden": "This key may not do that.",
}


@router.post("/batch", response={200: LeadBatchOut, 207: LeadBatchOut})
def leads_create_batch(request: HttpRequest, payload: LeadBatchIn) -> Status[LeadBatchOut]:
    """Create up to 500 leads in one transaction, each with the rules of ``POST /leads``
    (dedupe against live leads and the earlier items). One result per item, in order; an
    invalid item does not stop the others. 200 when every item succeeded, 207 otherwise."""
    workspace, actor = _context(request)
    results = _create_checked_items(workspace, actor, payload.items)
    viewer = selectors.viewer_for(actor=actor)
    out = [_batch_item_out(result, viewer) for result in results]
    counts = Counter(result.status for result in results)
    body = LeadBatchOut(
        created=counts[batch.ItemStatus.CREATED],
        deduplicated=counts[batch.ItemStatus.DEDUPLICATED],
        failed=counts[batch.ItemStatus.ERROR],
        results=out,
    )
    return Status(207 if body.failed else 200, body)


def _create_checked_items(
    workspace: Workspace, actor: Actor, raw_items: list[dict[str, Any]]
) -> list[batch.ItemResult]:
    """Items that fail ``LeadIn`` become error results; the rest are created together and
    their results put back at their places in the request."""
    results: dict[int, batch.ItemResult] = {}
    valid: list[tuple[int, LeadIn]] = []
    for index, raw in enumerate(raw_items):
        try:
            valid.append((index, LeadIn.model_validate(raw)))
        except PydanticValidationError as exc:
            results[index] = batch.ItemResult(
                index=index,
                status=batch.ItemStatus.ERROR,
                code="validation_error",
                errors=field_errors(exc),
            )
    if valid:
        items = [batch.LeadItem(**item.model_dump()) for _, item in valid]
        created = batch.leads_create_many(workspace=workspace, actor=actor, items=items)
        for (index, _), result in zip(valid, created, strict=True):
            results[index] = replace(result, index=index)
    return [results[index] for index in range(len(raw_items))]


def _batch_item_out(result: batch.ItemResult, viewer: selectors.Viewer) -> BatchItemOut:
    if result.status == batch.ItemStatus.ERROR:
        error = BatchItemError(
            code=result.code, message=_BATCH_MESSAGES[result.code], fields=result.errors
        )
        return BatchItemOut(index=result.index, status=result.status.value, id=None, error=error)
    assert result.lead is not None  # created and deduplicated items carry their lead
    visible = selectors.lead_is_visible(viewer=viewer, lead=result.lead)
    return BatchItemOut(
        index=result.index, status=result.status.value, id=result.lead.pk if visible else None
    )


@router.get(
    "/export.csv",
    openapi_extra={"responses": {200: {"description": "The CSV.", "content": CSV}}},
)
def leads_export(
    request: HttpRequest,
    stage: str | None = None,
    owner: str | None = None,
    source: str | None = None,
    tag: str | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    has_overdue_task: str | None = None,
    opted_out: str | None = None,
) -> StreamingHttpResponse:
    """Live leads matching the list's plain filters as CSV (UTF-8 with BOM), streamed.
    Needs an owner or manager key; one ``data_export`` audit event per call."""
    workspace, actor = _context(request)
    require_capability(actor.role or "", Capability.LEADS_EXPORT)
    raw = {key: values for key, values in request.GET.lists()}
    filters = selectors.parse_lead_filters(raw, allowed=selectors.FILTER_KEYS - {"q", "trashed"})
    return leads_csv_response(
        workspace=workspace,
        actor=actor,
        viewer=selectors.viewer_for(actor=actor),
        filters=filters,
        filter_keys=list(raw),
    )


@router.get("/{lead_id}", response=LeadOut)
def leads_retrieve(request: HttpRequest, lead_id: str) -> LeadOut:
    workspace, actor = _context(request)
    lead = _access(request, lead_id, Capability.LEADS_VIEW_ASSIGNED)
    lead_record_view(workspace=workspace, actor=actor, lead=lead)
    return _lead_out(lead, _fields(workspace))


@router.patch("/{lead_id}", response=LeadOut)
def leads_update(request: HttpRequest, lead_id: str, payload: LeadPatchIn) -> LeadOut:
    workspace, actor = _context(request)
    lead = _access(request, lead_id, Capability.LEADS_EDIT)
    changes = payload.model_dump(exclude_unset=True)
    if "stage" in changes:
        changes["stage"] = selectors.stage_for_input(workspace=workspace, value=changes["stage"])
    if changes.get("owner") is not None:
        changes["owner"] = selectors.member_for_input(workspace=workspace, value=changes["owner"])
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    lead = lead_update(workspace=workspace, actor=actor, lead=lead, **changes)
    return _lead_out(lead, _fields(workspace))


@router.delete("/{lead_id}", response={204: None})
def leads_trash(request: HttpRequest, lead_id: str) -> Status[None]:
    workspace, actor = _context(request)
    lead = _access(request, lead_id, Capability.LEADS_DELETE)
    lead_trash(workspace=workspace, actor=actor, lead=lead)
    return Status(204, None)


@router.post("/{lead_id}/restore", response=LeadOut)
def leads_restore(request: HttpRequest, lead_id: str) -> LeadOut:
    workspace, actor = _context(request)
    lead = _access(request, lead_id, Capability.LEADS_DELETE, trashed=True)
    lead = lead_restore(workspace=workspace, actor=actor, lead=lead)
    return _lead_out(lead, _fields(workspace))


@router.get("/{lead_id}/notes", response=list[NoteOut])
def lead_notes_list(request: HttpRequest, lead_id: str) -> list[NoteOut]:
    workspace, actor = _context(request)
    lead = _access(request, lead_id, Capability.LEADS_VIEW_ASSIGNED)
    lead_record_view(workspace=workspace, actor=actor, lead=lead)
    return [_note_out(note) for note in selectors.lead_notes(workspace=workspace, lead=lead)]


@router.post("/{lead_id}/notes", response={201: NoteOut})
def lead_notes_create(request: HttpRequest, lead_id: str, payload: NoteIn) -> Status[NoteOut]:
    workspace, actor = _context(request)
    lead = _access(request, lead_id, Capability.NOTES_WRITE)
    note = note_add(workspace=workspace, actor=actor, lead=lead, body=payload.body)
    return Status(201, _note_out(note))
