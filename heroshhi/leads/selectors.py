"""Every non-trivial read of leads: who may see what, filters, search and keyset pages."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.crypto import EMAIL, PHONE, BlindIndexValueError, blind_index, name_tokens
from heroshhi.core.tenancy import current_workspace_id, workspace_scope
from heroshhi.core.text import CONTROL_CHARACTER_MESSAGE, has_control_character
from heroshhi.leads import assignment
from heroshhi.leads.models import Lead, LeadNameToken, Note, Source, Stage, Tag, Task, TimelineEvent
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


FILTER_VALUE_MAX = 200


def _scalar(key: str, value: object) -> str:
    """One short text value; lists, objects and operator-like text are refused."""
    if isinstance(value, list | tuple):
        if len(value) != 1:
            raise _filter_error(key, _("Give this filter one value."))
        value = value[0]
    if not isinstance(value, str):
        raise _filter_error(key, _("Give this filter a plain value."))
    if has_control_character(value):
        raise _filter_error(key, str(CONTROL_CHARACTER_MESSAGE))
    text = value.strip()
    if text.startswith("$") or "__" in text or len(text) > FILTER_VALUE_MAX:
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
    first, *others = tokens
    # Joined to the first word's token rows and ordered by their copy of the lead's
    # created_at and id (_ordering), the database reads that word's leads newest first
    # from the token index and stops after a page, however common or rare the word. Each
    # other word is probed per lead.
    # The token rows' own workspace too: their index starts with it.
    leads = leads.filter(name_tokens__workspace_id=workspace.pk, name_tokens__token=first).alias(
        listed_at=F("name_tokens__lead_created_at"), listed_id=F("name_tokens__lead_id")
    )
    for token in others:
        leads = leads.filter(
            Exists(LeadNameToken.objects.filter(lead_id=OuterRef("pk"), token=token))
        )
    return leads


def apply_filters(
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


def encode_cursor(lead: Lead) -> str:
    raw = json.dumps([lead.created_at.isoformat(), str(lead.pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _ordering(leads: QuerySet[Lead]) -> tuple[str, str]:
    """The columns a page is ordered and paged by: the lead's created_at and id, or the
    same values on the token rows a name search joined (whose index is in that order)."""
    if "listed_at" in leads.query.annotations:
        return "listed_at", "listed_id"
    return "created_at", "id"


def keyset_after(leads: QuerySet[Lead], created_at: datetime, uid: uuid.UUID) -> QuerySet[Lead]:
    """Rows after a keyset position (newest first). The plain ``created_at <=`` bound is
    redundant with the OR, but it is what lets the database start the index walk at the
    cursor instead of filtering every newer row."""
    at, key = _ordering(leads)
    return leads.filter(
        Q(**{f"{at}__lte": created_at}),
        Q(**{f"{at}__lt": created_at}) | Q(**{at: created_at, f"{key}__lt": uid}),
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
    """One page, newest first; two queries whatever the page size (leads, then tags).

    Each lead's tags are in ``lead.listed_tags``: a plain list costs a fraction of what
    ``prefetch_related("tags")`` spends building a queryset per lead (half the page's
    selector time at 50 rows)."""
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    with workspace_scope(workspace):
        leads = apply_filters(visible_leads(viewer=viewer), workspace=workspace, filters=filters)
        if after:
            leads = keyset_after(leads, *decode_cursor(after))
        at, key = _ordering(leads)
        tags = Prefetch("tags", Tag.objects.order_by("name"), to_attr="listed_tags")
        rows = list(
            # Lead declares listed_tags for its readers, which the stubs' plugin sees twice.
            leads.select_related("stage", "owner__user")
            .prefetch_related(tags)  # type: ignore[no-redef]
            .order_by(f"-{at}", f"-{key}")[: limit + 1]
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
