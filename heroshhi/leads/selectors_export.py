"""The reads of a CSV export: how many rows, then the rows in keyset batches."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, cast

from django.db.models import TextField
from django.db.models.functions import Cast

from heroshhi.core.crypto import EncryptedField
from heroshhi.core.crypto.columns import ColumnCipher
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Tag
from heroshhi.leads.selectors import LeadFilters, Viewer, apply_filters, keyset_after, visible_leads
from heroshhi.workspaces.models import Workspace

EXPORT_BATCH = 5000


def leads_export_count(*, workspace: Workspace, viewer: Viewer, filters: LeadFilters) -> int:
    with workspace_scope(workspace):
        live = replace(filters, trashed=False)
        return apply_filters(
            visible_leads(viewer=viewer), workspace=workspace, filters=live
        ).count()


# What a CSV row needs; the stage and owner names come from small maps, not joins.
EXPORT_COLUMNS = (
    "id", "name", "phone", "email", "source", "stage_id", "owner_id", "deal_value",
    "created_at", "custom_values",
)  # fmt: skip
_EXPORT_ENCRYPTED = ("name", "phone", "email", "custom_values")


class ExportLead(NamedTuple):
    """One exported lead, decrypted, with its sorted tag names (``id`` as text)."""

    id: str
    name: str | None
    phone: str | None
    email: str | None
    source: str
    stage_id: uuid.UUID
    owner_id: uuid.UUID | None
    deal_value: Decimal | None
    created_at: datetime
    custom_values: dict[str, Any] | None
    tags: list[str]


def leads_export_batches(
    *, workspace: Workspace, viewer: Viewer, filters: LeadFilters, batch: int = EXPORT_BATCH
) -> Iterator[list[ExportLead]]:
    """Live leads in keyset batches, newest first: memory stays flat whatever the total.

    Rows are read as plain tuples and decrypted column by column (``ColumnCipher``, the
    same row binding as the model fields): building a model instance and going through
    the field descriptor per value cost more than the AES itself. Tags come from one
    small query per batch, where prefetching would build a related manager per lead.

    The scope is entered per batch and left before yielding, so it never leaks into the
    code consuming the generator."""
    live = replace(filters, trashed=False)  # the trash is never exported
    after: tuple[datetime, uuid.UUID] | None = None
    tag_names: dict[uuid.UUID, str] | None = None
    fields = [cast(EncryptedField, Lead._meta.get_field(name)) for name in _EXPORT_ENCRYPTED]
    # Encrypted columns as plain text: the ciphers want the stored string, not the field's
    # per-value wrapper.
    columns = [
        Cast(name, TextField()) if name in _EXPORT_ENCRYPTED else name for name in EXPORT_COLUMNS
    ]
    while True:
        with workspace_scope(workspace):
            leads = apply_filters(visible_leads(viewer=viewer), workspace=workspace, filters=live)
            if after is not None:
                leads = keyset_after(leads, *after)
            page = leads.order_by("-created_at", "-id")[:batch]
            rows = list(page.values_list(*columns))
            if tag_names is None:
                tag_names = dict(Tag.objects.values_list("pk", "name"))
            # The page again as a subquery: the database walks the same index range, which
            # costs less than sending a few thousand ids back as parameters.
            links = Lead.tags.through.objects.filter(lead_id__in=page.values("pk"))
            tags: dict[uuid.UUID, list[str]] = {}
            for lead_id, tag_id in links.values_list("lead_id", "tag_id"):
                tags.setdefault(lead_id, []).append(tag_names[tag_id])
        if not rows:
            return
        # New ciphers per batch: a destroyed or rotated key reaches a long export soon.
        name, phone, email, custom = (ColumnCipher.for_field(f, workspace.pk) for f in fields)
        leads_out = []
        for pk, name_, phone_, email_, source, stage_id, owner_id, value, created, custom_ in rows:
            row_id = str(pk)
            leads_out.append(
                ExportLead(
                    row_id,
                    name.open(name_, row_id),
                    phone.open(phone_, row_id),
                    email.open(email_, row_id),
                    source,
                    stage_id,
                    owner_id,
                    value,
                    created,
                    custom.open(custom_, row_id),
                    sorted(tags.get(pk, ())),
                )
            )
        yield leads_out
        if len(rows) < batch:
            return
        after = (rows[-1][8], rows[-1][0])
