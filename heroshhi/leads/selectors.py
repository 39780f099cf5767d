"""Every non-trivial read of leads: who may see what, filters, search and keyset pages."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, cast

from django.core.exceptions import ValidationError
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Window,
)
from django.db.models.functions import Cast, RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.crypto import (
    EMAIL,
    PHONE,
    BlindIndexValueError,
    EncryptedField,
    blind_index,
    name_tokens,
)
from heroshhi.core.crypto.columns import ColumnCipher
from heroshhi.core.tenancy import current_workspace_id, workspace_scope
from heroshhi.leads import assignment
from heroshhi.leads.models import (
    Lead,
    LeadNameToken,
    Note,
    Notification,
    Source,
    Stage,
    Tag,
    Task,
    TimelineEvent,
)
from heroshhi.messaging.models import Conversation, OptOutRecord
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Capability, has_capability

PAGE_SIZE = 50
PAGE_SIZE_MAX = 100
UNASSIGNED = "unassigned"
FILTER_KEYS = frozenset(
    {"stage", "owner", "source", "tag", "created_from", "created_to", "q", "trashed"}
    | {"has_overdue_task", "opted_out"}
)
_SAFE_KEY = re.compile(r"[a-z_]{1,30}")
# Looks like a phone number typed by a person: digits with spaces, dashes, dots, brackets.
_PHONE_LIKE = re.compile(r"\+?[\d\s().-]{7,30}")
_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is reading: a role, and the member for user sessions (None for API keys)."""

    role: str
    member_id: uuid.UUID | None

    @property
    def sees_all(self) -> bool:
        return has_capability(self.role, Capability.LEADS_VIEW_ALL)


def viewer_for(*, actor: Actor) -> Viewer:
    """The viewer behind an actor; a user's member id is looked up in the current scope."""
    member_id = None
    if actor.type == ActorType.USER and actor.id:
        member_id = Membership.objects.filter(user_id=actor.id).values_list("pk", flat=True).first()
    return Viewer(role=actor.role or "", member_id=member_id)


def visible_leads(*, viewer: Viewer) -> QuerySet[Lead]:
    """Leads this viewer may see at all (trashed included); sales see their own only."""
    leads = Lead.objects.all()
    if viewer.sees_all:
        return leads
    if viewer.member_id is None:
        return leads.none()
    # Sales also see the unassigned pool while the workspace has it open. Asked first (one
    # small query) so that the usual case is a plain owner match, which the owner index
    # serves in list order; an OR with the pool switch inside SQL cannot use it.
    if assignment.pool_open_for(workspace_id=current_workspace_id()):
        return leads.filter(Q(owner_id=viewer.member_id) | Q(owner__isnull=True))
    return leads.filter(owner_id=viewer.member_id)


def lead_is_visible(*, viewer: Viewer, lead: Lead) -> bool:
    if viewer.sees_all:
        return True
    if viewer.member_id is None:
        return False
    if lead.owner_id is None:
        return assignment.pool_open_for(workspace_id=lead.workspace_id)
    return lead.owner_id == viewer.member_id


def stages_list(*, workspace: Workspace) -> list[Stage]:
    with workspace_scope(workspace):
        return list(Stage.objects.order_by("position", "name"))


def members_list(*, workspace: Workspace) -> list[Membership]:
    with workspace_scope(workspace):
        return list(Membership.objects.select_related("user").order_by("created_at"))


def tags_list(*, workspace: Workspace) -> list[Tag]:
    with workspace_scope(workspace):
        return list(Tag.objects.order_by("name"))


def _uuid_or_error(value: object, *, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError({field: [_("Choose a valid option.")]}) from None


def stage_for_input(*, workspace: Workspace, value: object) -> Stage:
    """The workspace's stage with this id, or a ``stage`` field error."""
    uid = _uuid_or_error(value, field="stage")
    with workspace_scope(workspace):
        stage = Stage.objects.filter(pk=uid).first()
    if stage is None:
        raise ValidationError({"stage": [_("Choose a valid option.")]})
    return stage


def member_for_input(*, workspace: Workspace, value: object) -> Membership:
    """The workspace's member with this id, or an ``owner`` field error."""
    uid = _uuid_or_error(value, field="owner")
    with workspace_scope(workspace):
        member = Membership.objects.filter(pk=uid).first()
    if member is None:
        raise ValidationError({"owner": [_("Choose a valid option.")]})
    return member


# Filters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadFilters:
    stage: uuid.UUID | None = None
    owner: uuid.UUID | str | None = None  # a member id or UNASSIGNED
    source: str | None = None
    tag: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    q: str | None = None
    trashed: bool = False
    # Leads with an open task due before now (a task due this very instant is not overdue).
    has_overdue_task: bool = False
    # The "now" of the overdue filter; None reads the clock. Set by tests, never by input.
    overdue_as_of: datetime | None = None
    # Leads whose phone number's newest opt-out ledger record says "opted out".
    opted_out: bool = False


def _filter_error(key: str, message: str) -> ValidationError:
    return ValidationError({key: [message]})


def _scalar(key: str, value: object) -> str:
    """One short text value; lists, objects and operator-like text are refused."""
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise _filter_error(key, _("Give this filter one value."))
        value = value[0]
    if not isinstance(value, str):
        raise _filter_error(key, _("Give this filter a plain value."))
    text = value.strip()
    if text.startswith("$") or "__" in text or len(text) > 200:
        raise _filter_error(key, _("This filter value is not allowed."))
    return text


def _date(key: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _filter_error(key, _("Enter a date as YYYY-MM-DD.")) from None


def parse_lead_filters(
    raw: Mapping[str, object], *, allowed: frozenset[str] = FILTER_KEYS
) -> LeadFilters:
    """Validated filters from untrusted input; nothing here reaches the ORM unchecked."""
    values: dict[str, str] = {}
    for key, value in raw.items():
        if key not in allowed:
            # Echo the key only when it is a plain word: a key can carry anything.
            name = key if isinstance(key, str) and _SAFE_KEY.fullmatch(key) else "filters"
            raise _filter_error(name, _("Unknown filter."))
        text = _scalar(key, value)
        if text:
            values[key] = text
    owner: uuid.UUID | str | None = values.get("owner")
    if owner is not None and owner != UNASSIGNED:
        owner = _uuid_or_error(owner, field="owner")
    source = values.get("source")
    if source is not None and source not in Source.values:
        raise _filter_error("source", _("Choose one of the known sources."))
    stage = values.get("stage")
    created_from = values.get("created_from")
    created_to = values.get("created_to")
    return LeadFilters(
        stage=_uuid_or_error(stage, field="stage") if stage else None,
        owner=owner,
        source=source,
        tag=" ".join(values["tag"].split()).lower() if "tag" in values else None,
        created_from=_date("created_from", created_from) if created_from else None,
        created_to=_date("created_to", created_to) if created_to else None,
        q=values.get("q"),
        trashed=values.get("trashed", "").lower() in _TRUE,
        has_overdue_task=values.get("has_overdue_task", "").lower() in _TRUE,
        opted_out=values.get("opted_out", "").lower() in _TRUE,
    )


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _search(leads: QuerySet[Lead], *, workspace: Workspace, q: str) -> QuerySet[Lead]:
    """Phone, e-mail or name words, each matched through its blind index."""
    if "@" in q:
        try:
            return leads.filter(email_bidx=blind_index(workspace.pk, EMAIL, q))
        except BlindIndexValueError:
            return leads.none()
    if _PHONE_LIKE.fullmatch(q):
        try:
            return leads.filter(phone_bidx=blind_index(workspace.pk, PHONE, q))
        except BlindIndexValueError:
            pass  # digits that are no phone number: fall through to a word search
    tokens = name_tokens(workspace.pk, q)
    if not tokens:
        return leads.none()
    # EXISTS per word: for a common word the planner walks the list index newest first and
    # probes each lead's tokens, stopping at a page; for a rare one it starts from the tokens.
    for token in tokens:
        leads = leads.filter(
            Exists(LeadNameToken.objects.filter(lead_id=OuterRef("pk"), token=token))
        )
    return leads


def _apply_filters(
    leads: QuerySet[Lead], *, workspace: Workspace, filters: LeadFilters
) -> QuerySet[Lead]:
    leads = leads.filter(deleted_at__isnull=not filters.trashed)
    if filters.stage is not None:
        leads = leads.filter(stage_id=filters.stage)
    if filters.owner == UNASSIGNED:
        leads = leads.filter(owner__isnull=True)
    elif isinstance(filters.owner, uuid.UUID):
        leads = leads.filter(owner_id=filters.owner)
    if filters.source is not None:
        leads = leads.filter(source=filters.source)
    if filters.tag is not None:
        leads = leads.filter(tags__name=filters.tag)
    if filters.created_from is not None:
        leads = leads.filter(created_at__gte=_start_of(filters.created_from))
    if filters.created_to is not None:
        leads = leads.filter(created_at__lt=_start_of(filters.created_to + timedelta(days=1)))
    if filters.has_overdue_task:
        overdue = Task.objects.filter(
            lead_id=OuterRef("pk"),
            done_at__isnull=True,
            due_at__lt=filters.overdue_as_of or timezone.now(),
        )
        leads = leads.filter(Exists(overdue))
    if filters.opted_out:
        leads = leads.alias(opt_out_state=Subquery(_newest_opt_out_status())).filter(
            opt_out_state=OptOutRecord.Status.OPTED_OUT
        )
    if filters.q:
        leads = _search(leads, workspace=workspace, q=filters.q)
    return leads


def _newest_opt_out_status() -> Subquery:
    """The status of the newest ledger record for the outer lead's contact, by its phone or
    by the WhatsApp user id of one of its conversations (a contact who hid their number):
    the same state the lead's own page shows."""
    user_ids = Conversation.objects.filter(
        lead_id=OuterRef(OuterRef("pk")), wa_user_bidx__isnull=False
    ).values("wa_user_bidx")
    return Subquery(
        OptOutRecord.objects.filter(
            Q(phone_bidx=OuterRef("phone_bidx")) | Q(wa_user_bidx__in=user_ids)
        )
        .order_by(*OptOutRecord.newest_first())
        .values("status")[:1]
    )


# Keyset pagination -------------------------------------------------------------------------


def encode_cursor(lead: Lead) -> str:
    raw = json.dumps([lead.created_at.isoformat(), str(lead.pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(leads: QuerySet[Lead], created_at: datetime, uid: uuid.UUID) -> QuerySet[Lead]:
    """Rows after a keyset position (newest first). The plain ``created_at <=`` bound is
    redundant with the OR, but it is what lets the database start the index walk at the
    cursor instead of filtering every newer row."""
    return leads.filter(
        Q(created_at__lte=created_at),
        Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=uid),
    )


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, uid = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created), uuid.UUID(uid)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError({"cursor": [_("This page link is not valid.")]}) from None


@dataclass(frozen=True, slots=True)
class LeadPage:
    items: list[Lead]
    next_cursor: str | None


def leads_list(
    *,
    workspace: Workspace,
    viewer: Viewer,
    filters: LeadFilters,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> LeadPage:
    """One page, newest first; two queries whatever the page size (leads, then tags)."""
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    with workspace_scope(workspace):
        leads = _apply_filters(visible_leads(viewer=viewer), workspace=workspace, filters=filters)
        if after:
            leads = _after(leads, *decode_cursor(after))
        rows = list(
            leads.select_related("stage", "owner__user")
            .prefetch_related("tags")
            .order_by("-created_at", "-id")[: limit + 1]
        )
    more = len(rows) > limit
    items = rows[:limit]
    return LeadPage(items=items, next_cursor=encode_cursor(items[-1]) if more else None)


def lead_timeline(*, workspace: Workspace, lead: Lead) -> list[TimelineEvent]:
    with workspace_scope(workspace):
        return list(TimelineEvent.objects.filter(lead=lead).order_by("created_at", "id"))


def lead_notes(*, workspace: Workspace, lead: Lead) -> list[Note]:
    with workspace_scope(workspace):
        return list(
            Note.objects.filter(lead=lead)
            .select_related("author__user")
            .order_by("-created_at", "-id")
        )


# Board ------------------------------------------------------------------------------------

BOARD_CARDS_PER_STAGE = 50


@dataclass(frozen=True, slots=True)
class BoardColumn:
    stage: Stage
    cards: list[Lead]
    total: int


def leads_board(*, workspace: Workspace, viewer: Viewer, stages: list[Stage]) -> list[BoardColumn]:
    """One column per stage with its newest live leads; three queries whatever the size
    (cards, per-stage totals; the stages are given)."""
    with workspace_scope(workspace):
        live = visible_leads(viewer=viewer).filter(deleted_at__isnull=True)
        ranked = live.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("stage_id")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        cards = list(
            ranked.filter(rank__lte=BOARD_CARDS_PER_STAGE)
            .select_related("owner__user")
            .order_by("stage_id", "-created_at", "-id")
        )
        totals = dict(
            live.order_by().values("stage_id").annotate(n=Count("id")).values_list("stage_id", "n")
        )
    by_stage: dict[uuid.UUID, list[Lead]] = {}
    for lead in cards:
        by_stage.setdefault(lead.stage_id, []).append(lead)
    return [
        BoardColumn(stage=stage, cards=by_stage.get(stage.pk, []), total=totals.get(stage.pk, 0))
        for stage in stages
    ]


def stage_lead_counts(*, workspace: Workspace) -> dict[uuid.UUID, int]:
    """Leads per stage, the trash included (a stage holding any cannot be deleted)."""
    with workspace_scope(workspace):
        rows = Lead.objects.order_by().values("stage_id").annotate(n=Count("id"))
        return {row["stage_id"]: row["n"] for row in rows}


# Tasks ------------------------------------------------------------------------------------


def lead_tasks(*, workspace: Workspace, lead: Lead) -> list[Task]:
    with workspace_scope(workspace):
        return list(
            Task.objects.filter(lead=lead)
            .select_related("assignee__user")
            .order_by(F("done_at").asc(nulls_first=True), "due_at", "id")
        )


@dataclass(frozen=True, slots=True)
class MyTasks:
    overdue: list[Task]
    today: list[Task]
    unread_notifications: int


def local_day_end(now: datetime) -> datetime:
    """The end of ``now``'s day in the workspace time zone (Asia/Kolkata)."""
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date() + timedelta(days=1), time.min))


def my_tasks(*, workspace: Workspace, member_id: uuid.UUID, now: datetime | None = None) -> MyTasks:
    """Open tasks of one member on live leads they can see: overdue ones and the rest of
    today (Indian time); three queries."""
    now = now or timezone.now()
    with workspace_scope(workspace):
        tasks = list(
            Task.objects.filter(
                assignee_id=member_id,
                done_at__isnull=True,
                due_at__lt=local_day_end(now),
                lead__deleted_at__isnull=True,
            )
            .select_related("lead")
            .order_by("due_at", "id")
        )
        unread = Notification.objects.filter(recipient_id=member_id, read_at__isnull=True).count()
    return MyTasks(
        overdue=[t for t in tasks if t.due_at < now],
        today=[t for t in tasks if t.due_at >= now],
        unread_notifications=unread,
    )


# Export -----------------------------------------------------------------------------------

EXPORT_BATCH = 5000


def leads_export_count(*, workspace: Workspace, viewer: Viewer, filters: LeadFilters) -> int:
    with workspace_scope(workspace):
        live = replace(filters, trashed=False)
        return _apply_filters(
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
            leads = _apply_filters(visible_leads(viewer=viewer), workspace=workspace, filters=live)
            if after is not None:
                leads = _after(leads, *after)
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


@dataclass(frozen=True)
class RecentLeads:
    items: list[Lead]
    new_today: int
    total: int


def leads_recent(*, workspace: Workspace, actor: Actor, limit: int = 5) -> RecentLeads:
    """The newest leads the actor may see, and how many arrived today (India time)."""
    viewer = viewer_for(actor=actor)
    visible = visible_leads(viewer=viewer).filter(deleted_at__isnull=True)
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    page = leads_list(workspace=workspace, viewer=viewer, filters=LeadFilters(), limit=limit)
    return RecentLeads(
        items=page.items,
        new_today=visible.filter(created_at__gte=today).count(),
        total=visible.count(),
    )
