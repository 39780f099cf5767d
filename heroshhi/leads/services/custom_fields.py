"""Writes to the workspace-defined lead fields: create, change, reorder, archive and
restore (owners and managers). Audit metadata names the field key and kind, never a value."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.ordering import renumbered
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.custom_fields import (
    FIELDS_MAX,
    clean_choices,
    clean_key,
    clean_kind,
    clean_label,
    field_error,
    key_from_label,
)
from heroshhi.leads.models import CustomField
from heroshhi.leads.services.common import actor_role
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


def _audit(
    *, workspace: Workspace, actor: Actor, action: AuditAction, field: CustomField, **meta: object
) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        action=action,
        target=("custom_field", field.pk),
        metadata={"key": field.key, "kind": field.kind, **meta},
    )


@transaction.atomic
def custom_field_create(
    *,
    workspace: Workspace,
    actor: Actor,
    label: str,
    kind: str,
    key: str = "",
    choices: object = (),
    required: bool = False,
) -> CustomField:
    """A new field at the end of the list; the key comes from the label unless given."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    data = validation.collect(
        {
            "label": lambda: clean_label(label),
            "kind": lambda: clean_kind(kind),
        }
    )
    data |= validation.collect(
        {
            "key": lambda: clean_key(key.strip() if key else key_from_label(data["label"])),
            "choices": lambda: clean_choices(choices, kind=data["kind"]),
        }
    )
    with workspace_scope(workspace):
        if CustomField.objects.filter(key=data["key"]).exists():
            # Archived fields keep their key, so old values never change meaning.
            raise field_error(
                "key", _("Another field (maybe a removed one) already uses this key.")
            )
        if CustomField.objects.count() >= FIELDS_MAX:
            raise field_error(
                "label",
                _("A workspace can have at most %(max)d custom fields.") % {"max": FIELDS_MAX},
            )
        last = CustomField.objects.aggregate(last=Max("position"))["last"]
        field = CustomField.objects.create(
            workspace=workspace,
            key=data["key"],
            label=data["label"],
            kind=data["kind"],
            choices=data["choices"],
            required=bool(required),
            position=0 if last is None else last + 1,
        )
        _audit(
            workspace=workspace, actor=actor, action=AuditAction.CUSTOM_FIELD_CREATED, field=field
        )
    return field


@transaction.atomic
def custom_field_update(
    *,
    workspace: Workspace,
    actor: Actor,
    field: CustomField,
    label: str,
    required: bool,
    choices: object = (),
) -> CustomField:
    """Change the label, the options or whether it is required; key and kind stay. Values
    holding an option that was removed stay as they are until someone edits them."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    data = validation.collect(
        {
            "label": lambda: clean_label(label),
            "choices": lambda: clean_choices(choices, kind=field.kind),
        }
    )
    data["required"] = bool(required)
    with workspace_scope(workspace):
        changed = [
            name for name in ("label", "choices", "required") if getattr(field, name) != data[name]
        ]
        if not changed:
            return field
        for name in changed:
            setattr(field, name, data[name])
        field.save(update_fields=changed)
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.CUSTOM_FIELD_UPDATED,
            field=field,
            fields=changed,
        )
    return field


@transaction.atomic
def custom_field_move(
    *, workspace: Workspace, actor: Actor, field: CustomField, direction: str
) -> CustomField:
    """Swap an active field with its neighbour ("up" or "down")."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    if direction not in ("up", "down"):
        raise field_error("direction", _("Move a field up or down."))
    step = -1 if direction == "up" else 1
    return _place(
        workspace=workspace, actor=actor, field=field, error="direction", to=lambda i: i + step
    )


@transaction.atomic
def custom_field_move_to(
    *, workspace: Workspace, actor: Actor, field: CustomField, position: int
) -> CustomField:
    """Put an active field at ``position`` among the active ones (0 first); a position past
    the end puts it last."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    if isinstance(position, bool) or not isinstance(position, int) or position < 0:
        raise field_error("position", _("Give a position of 0 or more."))
    return _place(
        workspace=workspace, actor=actor, field=field, error="position", to=lambda i: position
    )


def _place(
    *,
    workspace: Workspace,
    actor: Actor,
    field: CustomField,
    error: str,
    to: Callable[[int], int],
) -> CustomField:
    """Move an active field from its index ``i`` to ``to(i)`` (kept within the list) and
    number the active fields 0, 1, 2... again. Nothing happens when it stays put."""
    with workspace_scope(workspace):
        ordered = list(
            CustomField.objects.select_for_update()
            .filter(archived_at__isnull=True)
            .order_by("position", "created_at", "id")
        )
        index = next((i for i, f in enumerate(ordered) if f.pk == field.pk), None)
        if index is None:
            raise field_error(error, _("Restore the field before moving it."))
        target = min(max(to(index), 0), len(ordered) - 1)
        if target == index:
            return field
        ordered.insert(target, ordered.pop(index))
        CustomField.objects.bulk_update(renumbered(ordered), ["position"])
        field.position = target
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.CUSTOM_FIELD_UPDATED,
            field=field,
            fields=["position"],
        )
    return field


@transaction.atomic
def custom_field_archive(*, workspace: Workspace, actor: Actor, field: CustomField) -> CustomField:
    """Remove a field from forms, pages, API answers and exports. Lead values stay stored
    (encrypted) and reappear when the field is restored."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    with workspace_scope(workspace):
        if field.archived_at is not None:
            return field
        field.archived_at = timezone.now()
        field.save(update_fields=["archived_at"])
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.CUSTOM_FIELD_DELETED,
            field=field,
            mode="archived",
        )
    return field


@transaction.atomic
def custom_field_restore(*, workspace: Workspace, actor: Actor, field: CustomField) -> CustomField:
    """Bring an archived field back, at the end of the list."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    with workspace_scope(workspace):
        if field.archived_at is None:
            return field
        last = CustomField.objects.filter(archived_at__isnull=True).aggregate(last=Max("position"))
        field.archived_at = None
        field.position = 0 if last["last"] is None else last["last"] + 1
        field.save(update_fields=["archived_at", "position"])
        _audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.CUSTOM_FIELD_UPDATED,
            field=field,
            fields=["archived_at"],
        )
    return field
