"""GET /api/v1/opt-outs: the workspace's opt-out ledger, newest first, filterable.

Records are keyed by the contact, not by a lead, so each item names the live lead it
concerns when there is one the key may see (``lead`` is null once the lead is gone; the
record stays). Owner and manager keys list every record; a sales key acts with no member of
its own and so lists none (sales see only leads assigned to them). Phone numbers, their
blind indexes and provider event keys never appear.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field

from heroshhi.core.actors import ActorType
from heroshhi.leads.selectors import viewer_for
from heroshhi.messaging import selectors_optout
from heroshhi.messaging.selectors_optout import LedgerRow

router = Router(tags=["opt-outs"])
_PAGING_PARAMS = frozenset({"cursor", "limit"})
# Who acted is named only for staff and API keys (a user id or a key id); for the contact's
# own records the actor is the system, which has no id.
_NAMED_ACTORS = frozenset({ActorType.USER, ActorType.API_KEY})


class OptOutRecordOut(Schema):
    id: uuid.UUID
    status: str
    method: str
    trigger: str
    rule: str = Field(
        description="For a keyword reply, the matcher rule that decided: exact, or the "
        "tolerances used (filler, letters, spelling, tail) joined with +. Empty otherwise."
    )
    channel: uuid.UUID | None
    actor_type: str
    actor_id: str | None
    occurred_at: datetime | None
    created_at: datetime
    lead: uuid.UUID | None


class OptOutPageOut(Schema):
    items: list[OptOutRecordOut]
    next_cursor: str | None


def _record_out(row: LedgerRow) -> OptOutRecordOut:
    record = row.record
    return OptOutRecordOut(
        id=record.pk,
        status=record.status,
        method=record.method,
        trigger=record.trigger,
        rule=record.rule,
        channel=record.channel_id_ref,
        actor_type=record.actor_type,
        actor_id=(record.actor_id or None) if record.actor_type in _NAMED_ACTORS else None,
        occurred_at=record.occurred_at,
        created_at=record.created_at,
        lead=row.lead.pk if row.lead else None,
    )


@router.get("", response=OptOutPageOut)
def optouts_list(
    request: HttpRequest,
    status: str | None = None,
    method: str | None = None,
    channel: str | None = None,
    lead: str | None = None,
    since: str | None = None,
    until: str | None = None,
    current: str | None = None,
    cursor: str | None = None,
    limit: int = selectors_optout.PAGE_SIZE,
) -> OptOutPageOut:
    """Every opt-out and opt-in record, newest first.

    ``status`` (opted_out, opted_in), ``method`` (keyword, whatsapp, manual, api),
    ``channel`` and ``lead`` (ids), ``since`` and ``until`` (a date, a whole day in India
    time, or an ISO date-time; both ends included), ``current=true`` for the contacts opted
    out right now (each one's newest record). ``next_cursor`` continues with older records.
    """
    # The raw query is parsed again so unknown keys and repeated values are refused.
    raw = {key: values for key, values in request.GET.lists() if key not in _PAGING_PARAMS}
    workspace, actor = request.workspace, request.actor  # type: ignore[attr-defined]
    page = selectors_optout.optout_ledger_page(
        workspace=workspace,
        viewer=viewer_for(actor=actor),
        filters=selectors_optout.parse_ledger_filters(raw),
        after=cursor,
        limit=limit,
    )
    return OptOutPageOut(
        items=[_record_out(row) for row in page.rows], next_cursor=page.next_cursor
    )
