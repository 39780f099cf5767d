"""A contact's WhatsApp message arriving: find or create the lead, store the message, open the
24-hour window, and honour opt-out and re-subscribe keywords.

Each message is handled once, whatever Meta redelivers: the wamid is unique per workspace, so
a second delivery finds the stored row and changes nothing. Everything a message causes (the
row, the conversation's counters, the timeline, an opt-out record and its confirmation reply)
is written in one transaction, so a crash leaves either all of it or none, and a retry then
does the rest.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import batched

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Greatest
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.bulk import rows_insert, rows_update
from heroshhi.core.crypto import PHONE, WA_USER, BlindIndexValueError, blind_index
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Source, TimelineEvent
from heroshhi.leads.selectors import lead_is_visible, viewer_for
from heroshhi.leads.services.batch import BATCH_MAX, LeadItem, leads_create_many
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.validation import DETAIL_VALUE_MAX, SOURCE_DETAIL_KEYS
from heroshhi.messaging import keywords, optout, sending
from heroshhi.messaging.channels import transport_for, with_details
from heroshhi.messaging.events import Contact, InboundMessage, UserPreference
from heroshhi.messaging.keyword_matcher import KeywordMatch
from heroshhi.messaging.models import Channel, Conversation, Message, OptOutRecord
from heroshhi.messaging.transport import TransportError
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, Role, require_capability

logger = logging.getLogger(__name__)

# Who creates a lead for an unknown number. A manager's role: it may create leads and sees
# all of them, so lead_create leaves the owner to the workspace's assignment rules (round
# robin, by source) instead of making the creator the owner as it does for sales.
WHATSAPP_INTAKE = Actor(type=ActorType.SYSTEM, id="whatsapp", role=Role.MANAGER)


@dataclass(frozen=True, slots=True)
class InboundResult:
    message: Message
    created: bool
    lead_created: bool = False


# Identity ---------------------------------------------------------------------------------


def contact_phone(contact: Contact) -> str | None:
    """The contact's E.164 number (channels give the digits without "+"), if it shows one."""
    return None if contact.phone_digits is None else "+" + contact.phone_digits


def _index(workspace: Workspace, kind: str, value: str | None) -> str | None:
    if not value:
        return None
    try:
        return blind_index(workspace.pk, kind, value)
    except BlindIndexValueError:
        return None


def lead_for_contact(*, workspace: Workspace, contact: Contact) -> tuple[Lead | None, str | None]:
    """The live lead this contact is: by phone first, else by a conversation's stored
    WhatsApp user id. Also returns the usable E.164 phone (None when WhatsApp hid it or it
    is not a valid number). Runs inside the caller's workspace scope."""
    phone = contact_phone(contact)
    phone_bidx = _index(workspace, PHONE, phone)
    if phone_bidx is None:
        phone = None
    else:
        lead = (
            Lead.objects.filter(deleted_at__isnull=True, phone_bidx=phone_bidx)
            .order_by("created_at", "id")
            .first()
        )
        if lead is not None:
            return lead, phone
    user_bidx = _index(workspace, WA_USER, contact.user_id)
    if user_bidx is not None:
        conversation = (
            Conversation.objects.filter(wa_user_bidx=user_bidx, lead__deleted_at__isnull=True)
            .select_related("lead")
            .order_by("created_at", "id")
            .first()
        )
        if conversation is not None:
            return conversation.lead, phone
    return None, phone


def _source_details(referral: dict[str, str] | None) -> dict[str, str]:
    """Click-to-WhatsApp attribution, limited to the keys leads accept."""
    if not referral:
        return {}
    return {
        key: value[:DETAIL_VALUE_MAX]
        for key, value in referral.items()
        if key in SOURCE_DETAIL_KEYS and value
    }


def lead_for_message(*, workspace: Workspace, item: InboundMessage) -> tuple[Lead, bool]:
    """The lead a message (or call) from this contact belongs to, created from the
    contact's profile and ad referral when unknown; True when it was created."""
    lead, phone = lead_for_contact(workspace=workspace, contact=item.contact)
    if lead is not None:
        return lead, False
    name = item.contact.name
    if not name and phone is None:
        # A contact with neither a number nor a profile name still needs a lead to talk to.
        name = _("WhatsApp contact")
    result = lead_create(
        workspace=workspace,
        actor=WHATSAPP_INTAKE,
        name=name,
        phone=phone,
        email=None,
        source=Source.WHATSAPP,
        source_details=_source_details(item.referral),
    )
    return result.lead, result.created


def conversation_for(
    *, workspace: Workspace, channel: Channel, lead: Lead, contact: Contact
) -> Conversation:
    """The lead's conversation on this channel, created on first contact; keeps the
    contact's WhatsApp user id so a contact without a visible number is found again."""
    # Locked, so counters updated from this copy cannot overwrite another worker's.
    conversation, _created = Conversation.objects.select_for_update(no_key=True).get_or_create(
        lead=lead, channel=channel, defaults={"workspace": workspace}
    )
    user_bidx = _index(workspace, WA_USER, contact.user_id)
    if user_bidx is not None and conversation.wa_user_bidx != user_bidx:
        conversation.wa_user_id = contact.user_id
        conversation.wa_user_bidx = user_bidx
        conversation.save(update_fields=["wa_user_id", "wa_user_bidx"])
    return conversation


def contact_touched(*, conversation: Conversation, at: datetime, unread: int = 0) -> None:
    """The contact wrote or called at ``at``: the window restarts from the latest such moment
    (out-of-order deliveries never move it back) and a closed conversation reopens. The
    caller holds the conversation's row lock (``conversation_for`` takes it)."""
    _touched(conversation, at=at, unread=unread)
    conversation.save(update_fields=_TOUCHED_FIELDS)


_TOUCHED_FIELDS = ["last_inbound_at", "last_message_at", "unread_count", "status", "closed_at"]


def _touched(conversation: Conversation, *, at: datetime, unread: int) -> None:
    conversation.last_inbound_at = max(filter(None, (conversation.last_inbound_at, at)))
    conversation.last_message_at = max(filter(None, (conversation.last_message_at, at)))
    conversation.unread_count += unread
    if conversation.status == Conversation.Status.CLOSED:
        conversation.status = Conversation.Status.OPEN
        conversation.closed_at = None


# Messages ---------------------------------------------------------------------------------


def inbound_message_receive(
    *, workspace: Workspace, channel: Channel, item: InboundMessage
) -> InboundResult:
    """Store one inbound message (once per wamid) with all it causes."""
    try:
        return _receive(workspace=workspace, channel=channel, item=item)
    except IntegrityError:
        # Another worker stored the same wamid a moment ago: our transaction (lead and
        # conversation included) rolled back whole, and theirs is the message.
        with workspace_scope(workspace):
            stored = Message.objects.filter(provider_message_id=item.provider_message_id).first()
        if stored is None:
            raise
        return InboundResult(message=stored, created=False)


def _receive(*, workspace: Workspace, channel: Channel, item: InboundMessage) -> InboundResult:
    with transaction.atomic(), workspace_scope(workspace):
        stored = Message.objects.filter(provider_message_id=item.provider_message_id).first()
        if stored is not None:
            return InboundResult(message=stored, created=False)
        lead, lead_created = lead_for_message(workspace=workspace, item=item)
        conversation = conversation_for(
            workspace=workspace, channel=channel, lead=lead, contact=item.contact
        )
        # No savepoint of its own: a clash on the wamid aborts the whole transaction,
        # which the caller turns into "duplicate".
        message = Message.objects.create(
            workspace=workspace,
            conversation=conversation,
            lead=lead,
            direction=Message.Direction.INBOUND,
            kind=item.kind,
            body=item.text,
            payload=item.payload or None,
            provider_message_id=item.provider_message_id,
            status=Message.Status.RECEIVED,
            actor_type="contact",
            provider_timestamp=item.timestamp,
        )
        contact_touched(conversation=conversation, at=item.timestamp, unread=1)
        lead.last_activity_at = max(lead.last_activity_at, timezone.now())
        lead.save(update_fields=["last_activity_at"])
        TimelineEvent.objects.create(
            workspace=workspace,
            lead=lead,
            kind=TimelineEvent.Kind.MESSAGE_IN,
            actor_type="contact",
            data={"message": str(message.pk), "kind": message.kind},
        )
        _apply_keyword(workspace=workspace, channel=channel, conversation=conversation, item=item)
    return InboundResult(message=message, created=True, lead_created=lead_created)


def inbound_messages_receive_many(
    *, workspace: Workspace, arrivals: Sequence[tuple[Channel, InboundMessage]]
) -> dict[int, bool]:
    """Store a batch of inbound messages set-based: one read each for known wamids, leads
    and conversations, one INSERT each for messages and timeline entries, one UPDATE each
    for conversations and leads. Runs inside the caller's transaction and workspace scope;
    a clash with another worker raises and rolls it all back.

    Numbers we have never seen get their leads (and every lead its conversation on the
    channel) created together first.

    Returns, by position in ``arrivals``, whether each message it took was new (False: a
    duplicate). Everything else is left to ``inbound_message_receive``, one by one: a
    contact known only by WhatsApp user id or whose user id is not the one on record, and
    opt-out keywords. A contact's messages all go the same way, so their order and their
    effects stay those of the one-by-one path."""
    wamids = {item.provider_message_id for _channel, item in arrivals}
    stored = set(
        Message.objects.filter(provider_message_id__in=wamids).values_list(
            "provider_message_id", flat=True
        )
    )
    taken: dict[int, bool] = {}
    candidates: dict[int, tuple[Channel, InboundMessage, str]] = {}
    one_by_one: set[tuple[object, str | None]] = set()
    for n, (channel, item) in enumerate(arrivals):
        phone_bidx = _index(workspace, PHONE, contact_phone(item.contact))
        sender = (channel.pk, phone_bidx or item.contact.user_id)
        if phone_bidx is None or _keyword_in(workspace, item) is not None:
            one_by_one.add(sender)
        elif item.provider_message_id in stored:
            taken[n] = False
        else:
            candidates[n] = (channel, item, phone_bidx)
    leads = _live_leads_by_phone({bidx for *_rest, bidx in candidates.values()})
    _leads_for_new_numbers(
        workspace=workspace, candidates=candidates.values(), leads=leads, one_by_one=one_by_one
    )
    conversations = _conversations_for(
        workspace=workspace, candidates=candidates.values(), leads=leads, one_by_one=one_by_one
    )
    fresh: list[tuple[Conversation, InboundMessage]] = []
    seen: set[str] = set()
    for n, (channel, item, phone_bidx) in candidates.items():
        if (channel.pk, phone_bidx) in one_by_one:
            continue
        # The same message twice in one batch (a redelivery claimed with the original).
        taken[n] = item.provider_message_id not in seen
        if taken[n]:
            seen.add(item.provider_message_id)
            fresh.append((conversations[(leads[phone_bidx], channel.pk)], item))
    _store_many(workspace=workspace, fresh=fresh)
    return taken


def _live_leads_by_phone(phone_bidxs: set[str]) -> dict[str, uuid.UUID]:
    """The live lead each number belongs to; the oldest wins, as one by one."""
    leads: dict[str, uuid.UUID] = {}
    for lead_id, phone_bidx in (
        Lead.objects.filter(deleted_at__isnull=True, phone_bidx__in=phone_bidxs)
        .order_by("-created_at", "-id")
        .values_list("pk", "phone_bidx")
    ):
        leads[phone_bidx] = lead_id
    return leads


def _leads_for_new_numbers(
    *,
    workspace: Workspace,
    candidates: Collection[tuple[Channel, InboundMessage, str]],
    leads: dict[str, uuid.UUID],
    one_by_one: set[tuple[object, str | None]],
) -> None:
    """Create the leads of numbers no live lead has, together (validation, assignment rules
    and audit as for any batch of leads), from each number's first message; add them to
    ``leads``. A contact a conversation already knows by WhatsApp user id is left to the
    one-by-one path, which matches it by that id."""
    first: dict[str, InboundMessage] = {}
    for channel, item, phone_bidx in candidates:
        if phone_bidx not in leads and (channel.pk, phone_bidx) not in one_by_one:
            first.setdefault(phone_bidx, item)
    users = {bidx: _index(workspace, WA_USER, item.contact.user_id) for bidx, item in first.items()}
    known_users = set(
        Conversation.objects.filter(
            wa_user_bidx__in={user for user in users.values() if user},
            lead__deleted_at__isnull=True,
        ).values_list("wa_user_bidx", flat=True)
    )
    wanted = [(bidx, item) for bidx, item in first.items() if users[bidx] not in known_users]
    for chunk in batched(wanted, BATCH_MAX):
        results = leads_create_many(
            workspace=workspace,
            actor=WHATSAPP_INTAKE,
            items=[
                LeadItem(
                    name=item.contact.name,
                    phone=contact_phone(item.contact),
                    source=Source.WHATSAPP,
                    source_details=_source_details(item.referral),
                )
                for _bidx, item in chunk
            ],
        )
        for (phone_bidx, _item), result in zip(chunk, results, strict=True):
            if result.lead is not None:
                leads[phone_bidx] = result.lead.pk


def _conversations_for(
    *,
    workspace: Workspace,
    candidates: Collection[tuple[Channel, InboundMessage, str]],
    leads: dict[str, uuid.UUID],
    one_by_one: set[tuple[object, str | None]],
) -> dict[tuple[uuid.UUID, uuid.UUID], Conversation]:
    """Each lead's conversation on the channel, locked, created for a first message on it.
    A sender without a lead, or whose WhatsApp user id differs from the one on record,
    goes one by one."""
    channels = {channel for channel, *_rest in candidates}
    # Locked in one order by every worker, for the counters written back afterwards.
    known = Conversation.objects.select_for_update(no_key=True).filter(
        lead__in=leads.values(), channel__in=channels
    )
    conversations = {(c.lead_id, c.channel_id): c for c in known.order_by("pk")}
    created: list[Conversation] = []
    for channel, item, phone_bidx in candidates:
        sender = (channel.pk, phone_bidx)
        lead_id = leads.get(phone_bidx)
        if lead_id is None:
            one_by_one.add(sender)
            continue
        user_bidx = _index(workspace, WA_USER, item.contact.user_id)
        conversation = conversations.get((lead_id, channel.pk))
        if conversation is None:
            conversation = Conversation(
                workspace=workspace,
                lead_id=lead_id,
                channel=channel,
                wa_user_id=item.contact.user_id if user_bidx else None,
                wa_user_bidx=user_bidx,
            )
            conversations[(lead_id, channel.pk)] = conversation
            created.append(conversation)
        elif user_bidx and conversation.wa_user_bidx != user_bidx:
            one_by_one.add(sender)
    Conversation.objects.bulk_create(created)
    return conversations


def _keyword_in(workspace: Workspace, item: InboundMessage) -> KeywordMatch | None:
    """The opt-out or re-subscribe keyword the message (its text or a button) is, if any."""
    for candidate in item.keyword_candidates:
        match = keywords.match_keyword(workspace=workspace, text=candidate)
        if match is not None:
            return match
    return None


def _store_many(
    *, workspace: Workspace, fresh: Sequence[tuple[Conversation, InboundMessage]]
) -> None:
    """Write what ``_receive`` writes for each message, in one statement per table."""
    if not fresh:
        return
    messages = [
        Message(
            workspace=workspace,
            conversation=conversation,
            lead_id=conversation.lead_id,
            direction=Message.Direction.INBOUND,
            kind=item.kind,
            body=item.text,
            payload=item.payload or None,
            provider_message_id=item.provider_message_id,
            status=Message.Status.RECEIVED,
            actor_type="contact",
            provider_timestamp=item.timestamp,
        )
        for conversation, item in fresh
    ]
    rows_insert(Message, messages, workspace_id=workspace.pk)
    rows_insert(
        TimelineEvent,
        [
            TimelineEvent(
                workspace=workspace,
                lead_id=message.lead_id,
                kind=TimelineEvent.Kind.MESSAGE_IN,
                actor_type="contact",
                data={"message": str(message.pk), "kind": message.kind},
            )
            for message in messages
        ],
        workspace_id=workspace.pk,
    )
    touched = {}
    for conversation, item in fresh:
        _touched(conversation, at=item.timestamp, unread=1)
        touched[conversation.pk] = conversation
    rows_update(Conversation.objects.all(), touched.values(), _TOUCHED_FIELDS)
    Lead.objects.filter(pk__in={conversation.lead_id for conversation, _item in fresh}).update(
        last_activity_at=Greatest("last_activity_at", Value(timezone.now()))
    )


def _apply_keyword(
    *,
    workspace: Workspace,
    channel: Channel,
    conversation: Conversation,
    item: InboundMessage,
) -> None:
    """STOP / START and the workspace's own keywords, as the whole message or a button."""
    match = _keyword_in(workspace, item)
    if match is None:
        return
    opt_out = match.action == "opt_out"
    changed = optout.record_from_contact(
        workspace=workspace,
        channel=channel,
        phone=contact_phone(item.contact),
        wa_user=item.contact.user_id,
        opt_out=opt_out,
        method=OptOutRecord.Method.KEYWORD,
        trigger=match.keyword,
        event_key=f"kw:{item.provider_message_id}"[:128],
        occurred_at=item.timestamp,
        rule=match.rule,
    )
    if not changed:
        return
    try:
        # The contact has just written, so the window is normally open for this short reply.
        sending.send_confirmation(
            workspace=workspace,
            conversation=conversation,
            text=keywords.CONFIRM_OPT_OUT_TEXT if opt_out else keywords.CONFIRM_OPT_IN_TEXT,
        )
    except (sending.SendRefused, ValidationError) as exc:
        # A late redelivery (window closed) or a removed channel: the opt-out itself stands.
        logger.info(
            "opt-out confirmation not sent",
            extra={"conversation_id": str(conversation.pk), "reason": type(exc).__name__},
        )


# Marketing preferences ---------------------------------------------------------------------


def preference_apply(*, workspace: Workspace, channel: Channel, item: UserPreference) -> bool:
    """Meta's "stop promotions" / "resume" switch → the ledger. True when the state changed.

    A redelivered event is recognised by its key; an event older than the contact's newest
    ledger record (a late or reordered delivery) joins the history without changing the
    state, so a resume is never undone by the stop that came before it.
    """
    phone = contact_phone(item.contact)
    if not optout.contact_keys(workspace=workspace, phone=phone, wa_user=item.contact.user_id):
        raise ValidationError("preference without a usable contact id")
    return optout.record_from_contact(
        workspace=workspace,
        channel=channel,
        phone=phone,
        wa_user=item.contact.user_id,
        opt_out=item.value == "stop",
        method=OptOutRecord.Method.WHATSAPP,
        trigger=f"user_preferences:{item.value}",
        event_key=optout.preference_event_key(
            contact_id=item.contact.user_id or item.contact.phone_digits or "",
            timestamp=int(item.timestamp.timestamp()),
            value=item.value,
        ),
        occurred_at=item.timestamp,
    )


# Media ------------------------------------------------------------------------------------


MEDIA_MAX_BYTES = 100 * 1024 * 1024  # WhatsApp's own ceiling for documents
# Types a browser may be handed as-is; anything else is served as an opaque download.
_SAFE_MEDIA_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "audio/ogg", "audio/mpeg", "audio/aac"}
    | {"audio/amr", "audio/mp4", "video/mp4", "video/3gpp", "application/pdf"}
)


@dataclass(frozen=True, slots=True)
class MediaFile:
    content: bytes
    content_type: str
    filename: str


def media_download(*, workspace: Workspace, actor: Actor, message: Message) -> MediaFile:
    """A received media item's bytes, fetched from WhatsApp on demand (media is not copied
    to our storage). Needs the CHAT capability and a lead the actor may see; the download is
    audited as a sensitive read, by message id."""
    if not actor.role:
        raise PermissionDenied("messaging.no_role")
    require_capability(actor.role, Capability.CHAT)
    with workspace_scope(workspace):
        message = Message.objects.select_related(
            "lead", *with_details("conversation__channel")
        ).get(pk=message.pk)
        if message.lead.deleted_at is not None or not lead_is_visible(
            viewer=viewer_for(actor=actor), lead=message.lead
        ):
            raise Http404
    media = (message.payload or {}).get("media") or {}
    media_id = str(media.get("id") or "")
    if message.direction != Message.Direction.INBOUND or not media_id:
        raise ValidationError({"message": [_("This message has no media to download.")]})
    channel = message.conversation.channel
    transport = transport_for(channel)
    details = transport.fetch_media(channel, media_id)
    content = transport.download_media(
        channel, str(details.get("url") or ""), max_bytes=MEDIA_MAX_BYTES
    )
    expected = str(details.get("sha256") or media.get("sha256") or "")
    if expected and hashlib.sha256(content).hexdigest() != expected:
        raise TransportError(code=None, title="media checksum mismatch", transient=True)
    mime = str(details.get("mime_type") or media.get("mime_type") or "").split(";")[0].strip()
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.SENSITIVE_READ,
        target=("message", message.pk),
        metadata={"entity": "media", "bytes": len(content)},
    )
    return MediaFile(
        content=content,
        content_type=mime if mime in _SAFE_MEDIA_TYPES else "application/octet-stream",
        filename=_media_filename(message=message, media=media, mime=mime),
    )


def _media_filename(*, message: Message, media: dict[str, object], mime: str) -> str:
    """The sender's file name reduced to safe characters, else one made from the id."""
    given = str(media.get("filename") or "")
    cleaned = "".join(ch for ch in given if ch.isalnum() or ch in "._- ").strip(" .")[:80]
    if cleaned:
        return cleaned
    extension = mimetypes.guess_extension(mime) or ""
    return f"whatsapp-{message.kind}-{str(message.pk)[:8]}{extension}"
