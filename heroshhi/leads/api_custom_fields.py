"""REST endpoints for the workspace's custom lead fields, under /api/v1/custom-fields.

Every key may list the active fields: a ``sales`` key fills them on the leads it creates.
Owner and manager keys also see the archived ones and change the definitions, with the
rules of the settings page (heroshhi/leads/custom_fields.py): key and kind never change,
removing a field archives it and keeps the values on leads.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import Field, field_validator

from heroshhi.core.actors import Actor
from heroshhi.core.schemas import InputSchema, column_max
from heroshhi.leads import custom_fields
from heroshhi.leads.models import CustomField
from heroshhi.leads.services.custom_fields import (
    custom_field_archive,
    custom_field_create,
    custom_field_move_to,
    custom_field_restore,
    custom_field_update,
)
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

router = Router(tags=["custom fields"])


class CustomFieldOut(Schema):
    id: uuid.UUID
    key: str = Field(description="Names the value in a lead's custom_fields; never changes.")
    label: str
    kind: CustomField.Kind
    choices: list[str] = Field(description="The options of a choice field; empty otherwise.")
    required: bool = Field(description="Required when a lead is sent with custom_fields.")
    position: int | None = Field(
        description="Place among the active fields, 0 first; empty for archived fields."
    )
    archived: bool


ChoiceText = Annotated[str, Field(max_length=custom_fields.CHOICE_MAX)]


class CustomFieldIn(InputSchema):
    label: str = Field(max_length=column_max(CustomField, "label"))
    kind: CustomField.Kind
    key: str = Field(
        "",
        max_length=column_max(CustomField, "key"),
        description="Made from the label when left out.",
    )
    choices: list[ChoiceText] = Field(
        default_factory=list,
        max_length=custom_fields.CHOICES_MAX,
        description="Only for choice fields.",
    )
    required: bool = Field(False, strict=True)


class CustomFieldPatchIn(InputSchema):
    """Only the given attributes change."""

    label: str | None = Field(None, max_length=column_max(CustomField, "label"))
    choices: list[ChoiceText] | None = Field(
        None, max_length=custom_fields.CHOICES_MAX, description="The full new list of options."
    )
    required: bool | None = Field(None, strict=True)
    position: int | None = Field(
        None, ge=0, strict=True, description="0 puts it first; past the end puts it last."
    )

    @field_validator("label", "choices", "required", "position", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Left out means "keep"; null would be ambiguous.
        if value is None:
            raise ValueError("Leave it out to keep the current value.")
        return value


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return request.workspace, request.actor  # type: ignore[attr-defined]


def _out(field: CustomField, position: int | None) -> CustomFieldOut:
    return CustomFieldOut(
        id=field.pk,
        key=field.key,
        label=field.label,
        kind=CustomField.Kind(field.kind),
        choices=list(field.choices),
        required=field.required,
        position=position,
        archived=field.archived_at is not None,
    )


def _one_out(workspace: Workspace, field: CustomField) -> CustomFieldOut:
    # Stored positions can have gaps (archived fields leave them); answers show the index.
    if field.archived_at is not None:
        return _out(field, None)
    active = [f.pk for f in custom_fields.custom_fields_list(workspace=workspace)]
    return _out(field, active.index(field.pk))


def _access(request: HttpRequest, field_id: str) -> CustomField:
    workspace, actor = _context(request)
    return custom_fields.access_custom_field(
        workspace=workspace, actor_role=actor.role or "", uid=field_id
    )


def _refuse_options(kind: str, choices: list[str] | None) -> None:
    # The service ignores options of other kinds (the settings form always sends the box);
    # an integrator sending them has misunderstood the field, so say so.
    if choices and kind != CustomField.Kind.CHOICE:
        raise ValidationError({"choices": [_("Only single-choice fields have options.")]})


@router.get("", response=list[CustomFieldOut])
def custom_fields_list(request: HttpRequest, archived: bool = False) -> list[CustomFieldOut]:
    """The active fields in display order; with ``archived=1`` (owner and manager keys)
    the archived ones follow."""
    workspace, actor = _context(request)
    items = [
        _out(field, index)
        for index, field in enumerate(custom_fields.custom_fields_list(workspace=workspace))
    ]
    if archived:
        require_capability(actor.role or "", Capability.PIPELINE_CONFIGURE)
        gone = custom_fields.custom_fields_list(workspace=workspace, archived=True)
        items += [_out(field, None) for field in gone]
    return items


@router.post("", response={201: CustomFieldOut})
def custom_fields_create(request: HttpRequest, payload: CustomFieldIn) -> Status[CustomFieldOut]:
    """A new field at the end of the list."""
    workspace, actor = _context(request)
    _refuse_options(payload.kind, payload.choices)
    field = custom_field_create(
        workspace=workspace,
        actor=actor,
        label=payload.label,
        kind=payload.kind,
        key=payload.key,
        choices=payload.choices,
        required=payload.required,
    )
    return Status(201, _one_out(workspace, field))


@router.patch("/{field_id}", response=CustomFieldOut)
def custom_fields_update(
    request: HttpRequest, field_id: str, payload: CustomFieldPatchIn
) -> CustomFieldOut:
    """Change the label, the options, whether it is required, or its place. A value already
    on a lead that is no longer an option stays until someone edits it."""
    workspace, actor = _context(request)
    field = _access(request, field_id)
    _refuse_options(field.kind, payload.choices)
    # One change or none: a refused position leaves the label as it was.
    with transaction.atomic():
        field = custom_field_update(
            workspace=workspace,
            actor=actor,
            field=field,
            label=field.label if payload.label is None else payload.label,
            required=field.required if payload.required is None else payload.required,
            choices=field.choices if payload.choices is None else payload.choices,
        )
        if payload.position is not None:
            field = custom_field_move_to(
                workspace=workspace, actor=actor, field=field, position=payload.position
            )
    return _one_out(workspace, field)


@router.post("/{field_id}/archive", response=CustomFieldOut)
def custom_fields_archive(request: HttpRequest, field_id: str) -> CustomFieldOut:
    """Remove the field from forms, pages, API answers and exports; values on leads stay
    stored and come back with ``/restore``."""
    workspace, actor = _context(request)
    field = custom_field_archive(workspace=workspace, actor=actor, field=_access(request, field_id))
    return _one_out(workspace, field)


@router.post("/{field_id}/restore", response=CustomFieldOut)
def custom_fields_restore(request: HttpRequest, field_id: str) -> CustomFieldOut:
    """Bring an archived field back, at the end of the list."""
    workspace, actor = _context(request)
    field = custom_field_restore(workspace=workspace, actor=actor, field=_access(request, field_id))
    return _one_out(workspace, field)
