"""The workspace's opt-out ledger as a list: filters, keyset pages, and who each record is.

The ledger is keyed by blind indexes, never by a lead, so each row is resolved afterwards to
the live leads it concerns: by phone index, or through a conversation's WhatsApp user id.
A record whose contact has no live lead stays listed, with no lead (the ledger outlives
leads). Owners and managers see every record; sales only those that resolve to a lead they
may see. Rows carry the record itself; the API and the page print only its plain fields,
never the blind indexes or the event key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.core.actors import ActorType
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.forms import member_label
from heroshhi.leads.models import Lead
from heroshhi.leads.selectors import Viewer, visible_leads
from heroshhi.messaging import optout
from heroshhi.messaging.models import Channel, Conversation, OptOutRecord
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

PAGE_SIZE = 50
PAGE_SIZE_MAX = 100
FILTER_KEYS = frozenset({"status", "method", "channel", "lead", "since", "until", "current"})
_SAFE_KEY = re.compile(r"[a-z_]{1,30}")
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


# Filters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerFilters:
    status: str | None = None
    method: str | None = None
    channel: uuid.UUID | None = None
    lead: uuid.UUID | None = None
    # created_at >= since and created_at < before; a date "until" ends with its day.
    since: datetime | None = None
    before: datetime | None = None
    # Only each contact's newest record, and only when it says "opted out".
    current: bool = False


def _one_value(value: object) -> str | None:
    """The single text value of a parameter; None for lists of several or non-text."""
    if isinstance(value, list | tuple):
        if len(value) != 1:
            return None
        value = value[0]
    return value.strip() if isinstance(value, str) and len(value) <= 64 else None


def _moment(text: str, *, end: bool) -> datetime | None:
    """A date (its whole day in the workspace time zone) or an ISO date-time.

    ``end`` gives the exclusive upper bound: the next day's start for a date, one
    microsecond after a date-time (the columns' own precision)."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:
        start = timezone.make_aware(datetime.combine(day, time.min))
        return start + timedelta(days=1) if end else start
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment + timedelta(microseconds=1) if end else moment


def parse_ledger_filters(raw: Mapping[str, object]) -> LedgerFilters:
    """Validated filters from untrusted input; every field's problem is reported at once."""
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for key, value in raw.items():
        if key not in FILTER_KEYS:
            # Echo the key only when it is a plain word: a key can carry anything.
            name = key if isinstance(key, str) and _SAFE_KEY.fullmatch(key) else "filters"
            errors.setdefault(name, []).append(_("Unknown filter."))
            continue
        text = _one_value(value)
        if text is None:
            errors.setdefault(key, []).append(_("Give this filter one short value."))
        elif text:
            values[key] = text

    def choice(key: str, options: list[str], message: str) -> str | None:
        text = values.get(key)
        if text is not None and text not in options:
            errors.setdefault(key, []).append(message)
            return None
        return text

    def uid(key: str, message: str) -> uuid.UUID | None:
        text = values.get(key)
        if text is None:
            return None
        try:
            return uuid.UUID(text)
        except ValueError:
            errors.setdefault(key, []).append(message)
            return None

    def moment(key: str, *, end: bool) -> datetime | None:
        text = values.get(key)
        if text is None:
            return None
        parsed = _moment(text, end=end)
        if parsed is None:
            errors.setdefault(key, []).append(_("Enter a date as YYYY-MM-DD."))
        return parsed

    status = choice("status", OptOutRecord.Status.values, _("Choose opted out or opted in."))
    method = choice("method", OptOutRecord.Method.values, _("Choose one of the known methods."))
    channel = uid("channel", _("Choose one of the numbers."))
    lead = uid("lead", _("This is not a lead id."))
    since = moment("since", end=False)
    before = moment("until", end=True)
    if since is not None and before is not None and since >= before:
        errors.setdefault("until", []).append(_("The end cannot be before the start."))
    current = values.get("current", "").lower()
    if current not in TRUE_VALUES | _FALSE:
        errors.setdefault("current", []).append(_("Give true or false."))
    if errors:
        raise ValidationError(errors)
    return LedgerFilters(
        status=status,
        method=method,
        channel=channel,
        lead=lead,
        since=since,
        before=before,
        current=current in TRUE_VALUES,
    )


# Keyset pagination -----------------------------------------------------------------------


def _encode_cursor(record: OptOutRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), record.seq, str(record.pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, seq, uid = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created)
        if not isinstance(seq, int) or timezone.is_naive(moment):
            raise TypeError
        return moment, seq, uuid.UUID(uid)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError({"cursor": [_("This page link is not valid.")]}) from None


def _after(records: QuerySet[OptOutRecord], cursor: str) -> QuerySet[OptOutRecord]:
    """Records older than the cursor's in (created_at, seq, id) order, newest first."""
    created, seq, uid = _decode_cursor(cursor)
    return records.filter(
        Q(created_at__lte=created),
        Q(created_at__lt=created)
        | Q(created_at=created, seq__lt=seq)
        | Q(created_at=created, seq=seq, id__lt=uid),
    )


# The page --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerRow:
    record: OptOutRecord
    # Live leads this contact is that the viewer may see; the first is the one shown.
    leads: tuple[Lead, ...] = ()

    @property
    def lead(self) -> Lead | None:
        return self.leads[0] if self.leads else None


@dataclass(frozen=True, slots=True)
class LedgerPage:
    rows: list[LedgerRow]
    next_cursor: str | None


def _newer_record_of_same_contact() -> Exists:
    """A later record sharing the outer record's phone index or WhatsApp user index.

    NULL keys compare as unknown in SQL, so a record without a phone index is never matched
    through it."""
    return Exists(
        OptOutRecord.objects.filter(
            Q(phone_bidx=OuterRef("phone_bidx")) | Q(wa_user_bidx=OuterRef("wa_user_bidx")),
            Q(created_at__gt=OuterRef("created_at"))
            | Q(created_at=OuterRef("created_at"), seq__gt=OuterRef("seq"))
            | Q(created_at=OuterRef("created_at"), seq=OuterRef("seq"), id__gt=OuterRef("id")),
        )
    )


def _concerning_a_lead(live: QuerySet[Lead]) -> Q:
    """Records whose contact is one of these leads, by phone or by a conversation."""
    return Q(Exists(live.filter(phone_bidx=OuterRef("phone_bidx")))) | Q(
        Exists(
            Conversation.objects.filter(
                wa_user_bidx=OuterRef("wa_user_bidx"), lead_id__in=live.values("pk")
            )
        )
    )


def _resolve(records: list[OptOutRecord], live: QuerySet[Lead]) -> list[LedgerRow]:
    """Each record with its live, visible leads: two queries for the whole page."""
    phones = {r.phone_bidx for r in records if r.phone_bidx}
    wa_users = {r.wa_user_bidx for r in records if r.wa_user_bidx}
    by_phone: dict[str, list[Lead]] = {}
    if phones:
        for lead in live.filter(phone_bidx__in=phones).order_by("created_at", "id"):
            by_phone.setdefault(lead.phone_bidx or "", []).append(lead)
    by_wa_user: dict[str, list[Lead]] = {}
    if wa_users:
        conversations = (
            Conversation.objects.filter(wa_user_bidx__in=wa_users, lead_id__in=live.values("pk"))
            .select_related("lead")
            .order_by("lead__created_at", "lead_id")
        )
        for conversation in conversations:
            by_wa_user.setdefault(conversation.wa_user_bidx or "", []).append(conversation.lead)
    rows = []
    for record in records:
        leads = by_phone.get(record.phone_bidx or "", []) + by_wa_user.get(
            record.wa_user_bidx or "", []
        )
        unique = tuple({lead.pk: lead for lead in leads}.values())
        rows.append(LedgerRow(record=record, leads=unique))
    return rows


def optout_ledger_page(
    *,
    workspace: Workspace,
    viewer: Viewer,
    filters: LedgerFilters,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> LedgerPage:
    """One page of the workspace's ledger, newest first (created_at, seq, id).

    At most six queries whatever the page size: the unassigned-pool switch (sales), the
    lead filter's lead and its WhatsApp id (when filtering by lead), the records, and the
    leads they resolve to by phone and by WhatsApp user id.
    """
    require_capability(viewer.role, Capability.CHAT)
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    with workspace_scope(workspace):
        visible = visible_leads(viewer=viewer)
        live = visible.filter(deleted_at__isnull=True)
        records = OptOutRecord.objects.all()
        if not viewer.sees_all:
            records = records.filter(_concerning_a_lead(live))
        if filters.lead is not None:
            # A trashed lead's contact can be looked up too; its records then name no lead.
            lead = visible.filter(pk=filters.lead).first()
            keys = optout.lead_keys(workspace=workspace, lead=lead) if lead else None
            if not keys:
                return LedgerPage(rows=[], next_cursor=None)
            records = records.filter(keys.filter())
        if filters.status is not None:
            records = records.filter(status=filters.status)
        if filters.method is not None:
            records = records.filter(method=filters.method)
        if filters.channel is not None:
            records = records.filter(channel_id_ref=filters.channel)
        if filters.since is not None:
            records = records.filter(created_at__gte=filters.since)
        if filters.before is not None:
            records = records.filter(created_at__lt=filters.before)
        if filters.current:
            records = records.filter(status=OptOutRecord.Status.OPTED_OUT).filter(
                ~_newer_record_of_same_contact()
            )
        if after:
            records = _after(records, after)
        page = list(records.order_by("-created_at", "-seq", "-id")[: limit + 1])
        more = len(page) > limit
        page = page[:limit]
        rows = _resolve(page, live)
    return LedgerPage(rows=rows, next_cursor=_encode_cursor(page[-1]) if more else None)


# What the page shows besides ids -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerLabels:
    """Display names for a page: the business's numbers and the staff who acted."""

    channels: dict[uuid.UUID, str] = field(default_factory=dict)
    staff: dict[str, str] = field(default_factory=dict)


def _uuids(values: set[str]) -> list[uuid.UUID]:
    parsed = []
    for value in values:
        try:
            parsed.append(uuid.UUID(value))
        except ValueError:
            continue  # not a user id: shown as a former member
    return parsed


def ledger_labels(*, workspace: Workspace, rows: list[LedgerRow]) -> LedgerLabels:
    """Two queries at most: the channels and the team members the rows name."""
    channel_ids = {row.record.channel_id_ref for row in rows if row.record.channel_id_ref}
    user_ids = {row.record.actor_id for row in rows if row.record.actor_type == ActorType.USER}
    channels: dict[uuid.UUID, str] = {}
    staff: dict[str, str] = {}
    with workspace_scope(workspace):
        if channel_ids:
            # Removed numbers too: their records stay.
            for channel in Channel.objects.filter(pk__in=channel_ids):
                channels[channel.pk] = channel.display_phone_number
        if user_ids:
            members = Membership.objects.filter(user_id__in=_uuids(user_ids)).select_related("user")
            staff = {str(member.user_id): member_label(member) for member in members}
    return LedgerLabels(channels=channels, staff=staff)


def ledger_channels(*, workspace: Workspace) -> list[Channel]:
    """Every number the filter can name, removed ones last."""
    with workspace_scope(workspace):
        return list(
            Channel.objects.order_by(F("deleted_at").asc(nulls_first=True), "created_at", "id")
        )
