"""The rules every new lead follows, shared by ``lead_create`` and the batch path: the
input checks, who owns it, and what a repeat enquiry fills in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.core.actors import Actor
from heroshhi.leads import custom_fields, validation
from heroshhi.leads.models import CustomField, Lead, Stage
from heroshhi.leads.selectors import Viewer, viewer_for
from heroshhi.leads.services.common import (
    actor_role,
    email_bidx_of,
    ensure_own_member,
    ensure_own_stage,
    phone_bidx_of,
)
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, has_capability

# Encrypted free-text fields a re-enquiry may fill when they are still empty.
_FILLABLE = ("name", "phone", "email", "description")
# Timeline and audit name a changed custom value "custom:<key>", never the value.
CUSTOM_FIELD_PREFIX = "custom:"


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
            "stage": lambda: None if stage is None else ensure_own_stage(workspace, stage),
            "owner": lambda: ensure_own_member(workspace, owner),
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
    role = actor_role(actor)

    def member_id() -> Any:
        return (viewer or viewer_for(actor=actor)).member_id

    if owner is None:
        return None if has_capability(role, Capability.LEADS_VIEW_ALL) else member_id()
    if not has_capability(role, Capability.LEADS_ASSIGN) and owner.pk != member_id():
        raise PermissionDenied(Capability.LEADS_ASSIGN.value)
    return owner.pk


def enquiry_fill(*, workspace: Workspace, lead: Lead, data: Mapping[str, Any]) -> list[str]:
    """Fill the lead's empty fields from a repeat enquiry (in memory, unsaved); returns the
    names of the fields filled. Shared with the batch path."""
    filled = [f for f in _FILLABLE if data[f] is not None and getattr(lead, f) in (None, "")]
    for field in filled:
        setattr(lead, field, data[field])
    if "phone" in filled:
        lead.phone_bidx = phone_bidx_of(workspace, lead.phone)
    if "email" in filled:
        lead.email_bidx = email_bidx_of(workspace, lead.email)
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
