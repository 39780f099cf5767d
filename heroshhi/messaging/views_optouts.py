"""The workspace's opt-out ledger page at /w/<slug>/inbox/opt-outs/.

Every opt-out and opt-in on record, newest first, filterable, older pages through a cursor.
The same selector as ``GET /api/v1/opt-outs`` decides what each member sees (owners and
managers everything, sales the records of their own leads) and validates the filters, so
the page and the API refuse the same input with the same messages. No phone number is
shown: a record names its lead, when a live one remains.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from heroshhi.core.actors import ActorType
from heroshhi.leads.selectors import Viewer
from heroshhi.messaging import selectors_optout
from heroshhi.messaging.models import OptOutRecord
from heroshhi.messaging.selectors_optout import LedgerLabels, LedgerRow
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.permissions import Capability

# The filters the form shows; a lead filter arrives only from a link and is kept as is.
FORM_FIELDS = ("status", "method", "channel", "current", "since", "until")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    row: LedgerRow
    by: str
    channel: str
    # The trigger when it says more than the method (a keyword, a provider signal).
    trigger: str


def _by(record: OptOutRecord, labels: LedgerLabels) -> str:
    if record.actor_type == ActorType.USER:
        return labels.staff.get(record.actor_id) or _("Former team member")
    if record.actor_type == ActorType.API_KEY:
        return _("API")
    return _("Contact")


def _entries(rows: list[LedgerRow], labels: LedgerLabels) -> list[LedgerEntry]:
    entries = []
    for row in rows:
        record = row.record
        channel = labels.channels.get(record.channel_id_ref) if record.channel_id_ref else None
        entries.append(
            LedgerEntry(
                row=row,
                by=_by(record, labels),
                channel=channel or "",
                trigger="" if record.trigger == record.method else record.trigger,
            )
        )
    return entries


@require_GET
def optout_ledger(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.CHAT)
    workspace = request.workspace
    raw = {key: values for key, values in request.GET.lists() if key != "cursor"}
    cursor = request.GET.get("cursor") or None
    errors: dict[str, list[str]] = {}
    page = selectors_optout.LedgerPage(rows=[], next_cursor=None)
    try:
        page = selectors_optout.optout_ledger_page(
            workspace=workspace,
            viewer=Viewer(role=request.membership.role, member_id=request.membership.pk),
            filters=selectors_optout.parse_ledger_filters(raw),
            after=cursor,
        )
    except ValidationError as exc:
        errors = exc.message_dict
    labels = selectors_optout.ledger_labels(workspace=workspace, rows=page.rows)
    # What the query asked for, to fill the form and the page links in again.
    kept = {key: request.GET.get(key, "") for key in (*FORM_FIELDS, "lead")}
    kept = {key: value for key, value in kept.items() if value}
    context = {
        "entries": _entries(page.rows, labels),
        "values": kept,
        "current_checked": kept.get("current", "").lower() in selectors_optout.TRUE_VALUES,
        "field_errors": {key: errors[key] for key in FORM_FIELDS if key in errors},
        "other_errors": [
            message
            for key, messages in errors.items()
            if key not in FORM_FIELDS
            for message in messages
        ],
        "statuses": OptOutRecord.Status.choices,
        "methods": OptOutRecord.Method.choices,
        "channels": selectors_optout.ledger_channels(workspace=workspace),
        "filters_query": urlencode(kept),
        "older_query": urlencode({**kept, "cursor": page.next_cursor}) if page.next_cursor else "",
        "is_first_page": cursor is None,
    }
    return render(request, "messaging/optout_ledger.html", context, status=400 if errors else 200)
