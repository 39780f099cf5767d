"""Reads for the team inbox, a conversation's thread and the lead page's messaging panel.

Who sees a conversation follows who sees its lead (``visible_leads``): owners and managers
see every conversation, sales those of their own leads and of the unassigned pool while the
workspace keeps it open. Message text is decrypted here, on the server, and escaped by the
templates like any other value.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.models import Lead, Note
from heroshhi.leads.selectors import Viewer, visible_leads
from heroshhi.messaging import optout
from heroshhi.messaging.models import Call, Conversation, Message, OptOutRecord, said_at
from heroshhi.messaging.sending import window_closes_at, window_open
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

INBOX_PAGE_SIZE = 50
THREAD_LIMIT = 100
PREVIEW_CHARS = 90
CALLS_SHOWN = 20


class Tab:
    MINE = "mine"
    UNASSIGNED = "unassigned"
    ALL = "all"
    CHOICES = (MINE, UNASSIGNED, ALL)


def default_tab(viewer: Viewer) -> str:
    """Sales start on their own conversations; owners and managers on everything."""
    return Tab.ALL if viewer.sees_all else Tab.MINE


# Who sees what ------------------------------------------------------------------------------


def visible_conversations(*, viewer: Viewer) -> QuerySet[Conversation]:
    """Conversations of live leads this viewer may see. Call inside a workspace scope."""
    conversations = Conversation.objects.filter(lead__deleted_at__isnull=True)
    if viewer.sees_all:
        return conversations
    return conversations.filter(lead_id__in=visible_leads(viewer=viewer).values("pk"))


def conversation_for_viewer(*, workspace: Workspace, viewer: Viewer, uid: object) -> Conversation:
    """One conversation, or the same 404 for missing, foreign, trashed and not-yours."""
    require_capability(viewer.role, Capability.LEADS_VIEW_ASSIGNED)
    with workspace_scope(workspace):
        conversations = visible_conversations(viewer=viewer).select_related(
            "lead", "lead__owner__user", "channel"
        )
        return get_in_scope_or_404(conversations, uid)


def _tab_filter(tab: str, viewer: Viewer) -> Q:
    if tab == Tab.MINE:
        return Q(lead__owner_id=viewer.member_id) if viewer.member_id else Q(pk__in=[])
    if tab == Tab.UNASSIGNED:
        return Q(lead__owner__isnull=True)
    return Q()


# The inbox list -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxFilters:
    tab: str
    channel: uuid.UUID | None = None
    closed: bool = False


@dataclass(frozen=True, slots=True)
class InboxRow:
    conversation: Conversation
    lead: Lead
    preview: str
    preview_outbound: bool
    activity_at: datetime


@dataclass(frozen=True, slots=True)
class TabCount:
    total: int
    unread: int


@dataclass(frozen=True, slots=True)
class InboxPage:
    rows: list[InboxRow]
    next_cursor: str | None
    counts: dict[str, TabCount] = field(default_factory=dict)


def parse_inbox_filters(
    *, viewer: Viewer, tab: str | None, channel: str | None, closed: str | None
) -> InboxFilters:
    """Validated list filters from the query string; unknown values are refused."""
    chosen = tab or default_tab(viewer)
    if chosen not in Tab.CHOICES:
        raise ValidationError({"tab": [_("Choose Mine, Unassigned or All.")]})
    channel_id = None
    if channel:
        try:
            channel_id = uuid.UUID(channel)
        except ValueError:
            raise ValidationError({"channel": [_("Choose one of the numbers.")]}) from None
    return InboxFilters(tab=chosen, channel=channel_id, closed=closed == "1")


def _encode_cursor(activity_at: datetime, uid: uuid.UUID) -> str:
    raw = json.dumps([activity_at.isoformat(), str(uid)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        activity, uid = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(activity), uuid.UUID(uid)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError({"cursor": [_("This page link is not valid.")]}) from None


def message_preview(message: Message | None) -> str:
    """A one-line summary of a message: its text, cut short, or what kind it is."""
    if message is None:
        return ""
    text = " ".join((message.body or "").split())
    if not text:
        return f"[{message.get_kind_display()}]"
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def inbox_page(
    *,
    workspace: Workspace,
    viewer: Viewer,
    filters: InboxFilters,
    after: str | None = None,
    limit: int = INBOX_PAGE_SIZE,
) -> InboxPage:
    """One page of conversations, newest activity first, with per-tab totals and unread
    counts; three queries whatever the page size (rows, their last messages, the counts)."""
    with workspace_scope(workspace):
        base = visible_conversations(viewer=viewer).filter(
            status=Conversation.Status.CLOSED if filters.closed else Conversation.Status.OPEN
        )
        if filters.channel is not None:
            base = base.filter(channel_id=filters.channel)
        last_message = Message.objects.filter(conversation=OuterRef("pk")).order_by(
            said_at().desc(), "-created_at", "-id"
        )
        rows = base.filter(_tab_filter(filters.tab, viewer)).annotate(
            activity_at=Coalesce("last_message_at", "created_at"),
            last_message_id=Subquery(last_message.values("pk")[:1]),
        )
        if after:
            activity, uid = _decode_cursor(after)
            rows = rows.filter(Q(activity_at__lt=activity) | Q(activity_at=activity, id__lt=uid))
        conversations = list(
            rows.select_related("lead", "lead__owner__user", "channel").order_by(
                F("activity_at").desc(), "-id"
            )[: limit + 1]
        )
        more = len(conversations) > limit
        conversations = conversations[:limit]
        ids = [c.last_message_id for c in conversations if c.last_message_id]
        messages = {m.pk: m for m in Message.objects.filter(pk__in=ids)} if ids else {}
        counts = _tab_counts(base, viewer)
    items = []
    for conversation in conversations:
        message = messages.get(conversation.last_message_id)
        items.append(
            InboxRow(
                conversation=conversation,
                lead=conversation.lead,
                preview=message_preview(message),
                preview_outbound=bool(message and message.direction == Message.Direction.OUTBOUND),
                activity_at=conversation.activity_at,
            )
        )
    next_cursor = None
    if more and conversations:
        last = conversations[-1]
        next_cursor = _encode_cursor(last.activity_at, last.pk)
    return InboxPage(rows=items, next_cursor=next_cursor, counts=counts)


def _tab_counts(base: QuerySet[Conversation], viewer: Viewer) -> dict[str, TabCount]:
    aggregates: dict[str, Count] = {}
    for tab in Tab.CHOICES:
        condition = _tab_filter(tab, viewer)
        aggregates[f"{tab}_total"] = Count("pk", filter=condition)
        aggregates[f"{tab}_unread"] = Count("pk", filter=condition & Q(unread_count__gt=0))
    values = base.aggregate(**aggregates)
    return {
        tab: TabCount(total=values[f"{tab}_total"], unread=values[f"{tab}_unread"])
        for tab in Tab.CHOICES
    }


def unread_conversations(*, workspace: Workspace, viewer: Viewer) -> int:
    """Open conversations with unread messages this viewer may see (the nav badge)."""
    with workspace_scope(workspace):
        return (
            visible_conversations(viewer=viewer)
            .filter(status=Conversation.Status.OPEN, unread_count__gt=0)
            .count()
        )


# One conversation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThreadItem:
    """A message or an internal note, in the order they happened."""

    at: datetime
    message: Message | None = None
    note: Note | None = None


def conversation_thread(
    *, workspace: Workspace, conversation: Conversation, limit: int = THREAD_LIMIT
) -> list[ThreadItem]:
    """The newest ``limit`` messages in the order they were said (ties by arrival), oldest
    first, with the lead's notes of that stretch woven in; two queries."""
    with workspace_scope(workspace):
        newest = list(
            Message.objects.filter(conversation=conversation)
            .select_related("sent_by")
            .order_by(said_at().desc(), "-created_at", "-id")[:limit]
        )
        notes = Note.objects.filter(lead_id=conversation.lead_id).select_related("author__user")
        if len(newest) == limit:
            notes = notes.filter(created_at__gte=newest[-1].said_at)
        note_rows = list(notes.order_by("created_at", "id"))
    items = [ThreadItem(at=m.said_at, message=m) for m in reversed(newest)]
    items += [ThreadItem(at=n.created_at, note=n) for n in note_rows]
    items.sort(key=lambda item: item.at)
    return items


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What the composer may do now: the 24-hour window and the contact's opt-out state."""

    window_open: bool
    window_closes_at: datetime | None
    opted_out: bool
    optout_record: OptOutRecord | None

    @property
    def key(self) -> str:
        """Changes whenever the composer must change; the polling fragment compares it."""
        if self.opted_out:
            return "optout"
        return "open" if self.window_open else "closed"

    def window_left(self, now: datetime | None = None) -> timedelta | None:
        if not self.window_open or self.window_closes_at is None:
            return None
        return max(self.window_closes_at - (now or timezone.now()), timedelta(0))


def conversation_state(*, workspace: Workspace, conversation: Conversation) -> ConversationState:
    state = optout.lead_state(workspace=workspace, lead=conversation.lead)
    is_open = window_open(conversation)
    return ConversationState(
        window_open=is_open,
        window_closes_at=window_closes_at(conversation) if is_open else None,
        opted_out=state.opted_out,
        optout_record=state.latest if state.opted_out else None,
    )


# The lead page's panel ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRow:
    call: Call
    duration: str
    # Only an http(s) address becomes a link: anything else could run script on click.
    recording_link: str | None


def duration_label(seconds: int) -> str:
    """ "4:05" or "1:02:03"; empty for a call that never connected."""
    if not seconds:
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _call_row(call: Call) -> CallRow:
    url = call.recording_url or ""
    safe = url if url.lower().startswith(("https://", "http://")) else None
    return CallRow(call=call, duration=duration_label(call.duration_seconds), recording_link=safe)


@dataclass(frozen=True, slots=True)
class LeadPanel:
    lead: Lead
    conversations: list[Conversation]
    opted_out: bool
    optout_record: OptOutRecord | None
    calls: list[CallRow]


def lead_panel(*, workspace: Workspace, lead: Lead) -> LeadPanel:
    state = optout.lead_state(workspace=workspace, lead=lead)
    with workspace_scope(workspace):
        conversations = list(
            Conversation.objects.filter(lead=lead)
            .select_related("channel")
            .order_by(F("last_message_at").desc(nulls_last=True), "-id")
        )
        calls = list(
            Call.objects.filter(lead=lead)
            .select_related("logged_by")
            .order_by("-started_at", "-id")[:CALLS_SHOWN]
        )
    return LeadPanel(
        lead=lead,
        conversations=conversations,
        opted_out=state.opted_out,
        optout_record=state.latest if state.opted_out else None,
        calls=[_call_row(call) for call in calls],
    )
