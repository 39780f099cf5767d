"""The opt-out ledger and its rules (PRODUCT.md "Opt-out, exactly"; P18, P20, P21).

A contact is identified by blind indexes of their phone number and, for contacts WhatsApp
shows without one, of their business-scoped user id. The ledger is append-only and keyed by
those indexes, never by a lead, so it outlives every lead: a deleted and re-created number is
still opted out. A contact's state is their newest record. The keywords that write it from a
contact's message are in ``messaging.keywords``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import PHONE, WA_USER, BlindIndexValueError, blind_index
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.selectors import lead_is_visible, viewer_for
from heroshhi.messaging.models import Conversation, Message, OptOutRecord
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


@dataclass(frozen=True, slots=True)
class ContactKeys:
    phone_bidx: str | None
    wa_user_bidx: str | None

    def __bool__(self) -> bool:
        return bool(self.phone_bidx or self.wa_user_bidx)

    def filter(self) -> Q:
        condition = Q(pk__in=[])
        if self.phone_bidx:
            condition |= Q(phone_bidx=self.phone_bidx)
        if self.wa_user_bidx:
            condition |= Q(wa_user_bidx=self.wa_user_bidx)
        return condition


@dataclass(frozen=True, slots=True)
class OptOutState:
    opted_out: bool
    latest: OptOutRecord | None


# State ----------------------------------------------------------------------------------


def contact_keys(
    *, workspace: Workspace, phone: str | None = None, wa_user: str | None = None
) -> ContactKeys:
    def index(kind: str, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return blind_index(workspace.pk, kind, value)
        except BlindIndexValueError:
            return None

    return ContactKeys(phone_bidx=index(PHONE, phone), wa_user_bidx=index(WA_USER, wa_user))


def lead_keys(*, workspace: Workspace, lead: Lead) -> ContactKeys:
    """The lead's phone index, and the WhatsApp user id of any conversation it has."""
    with workspace_scope(workspace):
        wa_user = (
            Conversation.objects.filter(lead=lead, wa_user_bidx__isnull=False)
            .values_list("wa_user_bidx", flat=True)
            .first()
        )
    return ContactKeys(phone_bidx=lead.phone_bidx, wa_user_bidx=wa_user)


def state_for(*, workspace: Workspace, keys: ContactKeys) -> OptOutState:
    if not keys:
        return OptOutState(opted_out=False, latest=None)
    with workspace_scope(workspace):
        latest = (
            OptOutRecord.objects.filter(keys.filter())
            .order_by(*OptOutRecord.newest_first())
            .first()
        )
    return OptOutState(
        opted_out=latest is not None and latest.status == OptOutRecord.Status.OPTED_OUT,
        latest=latest,
    )


def is_opted_out(
    *, workspace: Workspace, phone: str | None = None, wa_user: str | None = None
) -> bool:
    keys = contact_keys(workspace=workspace, phone=phone, wa_user=wa_user)
    return state_for(workspace=workspace, keys=keys).opted_out


def lead_state(*, workspace: Workspace, lead: Lead) -> OptOutState:
    return state_for(workspace=workspace, keys=lead_keys(workspace=workspace, lead=lead))


def lead_is_opted_out(*, workspace: Workspace, lead: Lead) -> bool:
    """Asked by every send path, in the same service call that sends."""
    return lead_state(workspace=workspace, lead=lead).opted_out


def ledger_for_lead(*, workspace: Workspace, lead: Lead) -> list[OptOutRecord]:
    """Every record about this lead's contact, in state order (the first is the state),
    including records older than the lead."""
    keys = lead_keys(workspace=workspace, lead=lead)
    if not keys:
        return []
    with workspace_scope(workspace):
        return list(
            OptOutRecord.objects.filter(keys.filter()).order_by(*OptOutRecord.newest_first())
        )


def opted_out_phone_indexes(*, workspace: Workspace, phone_bidxs: Iterable[str]) -> set[str]:
    """Which of these phone indexes are opted out now (for lists and campaign fan-out)."""
    wanted = set(phone_bidxs)
    if not wanted:
        return set()
    latest: dict[str, str] = {}
    with workspace_scope(workspace):
        rows = (
            OptOutRecord.objects.filter(phone_bidx__in=wanted)
            .order_by("phone_bidx", *OptOutRecord.newest_first())
            .values_list("phone_bidx", "status")
        )
        for phone_bidx, status in rows:
            latest.setdefault(phone_bidx, status)
    return {key for key, status in latest.items() if status == OptOutRecord.Status.OPTED_OUT}


# Writing the ledger ---------------------------------------------------------------------


def _leads_of(*, keys: ContactKeys) -> list[Lead]:
    """Live leads this contact is, by phone or by a conversation's WhatsApp user id."""
    condition = Q(pk__in=[])
    if keys.phone_bidx:
        condition |= Q(phone_bidx=keys.phone_bidx)
    if keys.wa_user_bidx:
        condition |= Q(
            pk__in=Conversation.objects.filter(wa_user_bidx=keys.wa_user_bidx).values("lead_id")
        )
    return list(Lead.objects.select_for_update().filter(condition, deleted_at__isnull=True))


def _append(
    *,
    workspace: Workspace,
    actor: Actor,
    keys: ContactKeys,
    opt_out: bool,
    method: str,
    trigger: str,
    channel_id: object = None,
    event_key: str = "",
    occurred_at: datetime | None = None,
    rule: str = "",
) -> bool:
    """Write one record and its audit entry; True when the contact's state changed.

    A record older than the contact's current one (a webhook delivered late) joins the
    history without changing the state, and the lead timeline shows only current records.
    Runs inside the caller's transaction and workspace scope.
    """
    leads = _leads_of(keys=keys)
    before = state_for(workspace=workspace, keys=keys)
    status = OptOutRecord.Status.OPTED_OUT if opt_out else OptOutRecord.Status.OPTED_IN
    try:
        with transaction.atomic():
            record = OptOutRecord.objects.create(
                workspace=workspace,
                phone_bidx=keys.phone_bidx,
                wa_user_bidx=keys.wa_user_bidx,
                status=status,
                method=method,
                trigger=trigger[:60],
                rule=rule,
                channel_id_ref=channel_id,
                actor_type=actor.type.value,
                actor_id=actor.id or "",
                event_key=event_key,
                occurred_at=(occurred_at or timezone.now()).replace(microsecond=0),
                seq=time.time_ns(),
            )
    except IntegrityError:
        # The same provider event delivered again: already on the ledger.
        if event_key and OptOutRecord.objects.filter(event_key=event_key).exists():
            return False
        raise
    current = before.latest is None or record.state_key > before.latest.state_key
    opted_out_now = opt_out if current else before.opted_out
    kind = TimelineEvent.Kind.OPTED_OUT if opt_out else TimelineEvent.Kind.OPTED_IN
    for lead in leads if current else ():
        TimelineEvent.objects.create(
            workspace=workspace,
            lead=lead,
            kind=kind,
            actor_type=actor.type.value,
            actor_id=actor.id or "",
            data={"method": method, "trigger": record.trigger, "record": str(record.pk)},
        )
    target = ("lead", leads[0].pk) if leads else ("optout_record", record.pk)
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.OPTOUT_RECORDED if opt_out else AuditAction.OPTIN_RECORDED,
        target=target,
        metadata={
            "method": method,
            "trigger": record.trigger,
            "rule": record.rule,
            "record": str(record.pk),
            "leads": len(leads),
            "changed": before.opted_out != opted_out_now,
            "late": not current,
        },
    )
    return before.opted_out != opted_out_now


def record_from_contact(
    *,
    workspace: Workspace,
    channel: object | None,
    phone: str | None,
    wa_user: str | None,
    opt_out: bool,
    method: str,
    trigger: str,
    event_key: str = "",
    occurred_at: datetime | None = None,
    rule: str = "",
) -> bool:
    """A contact's own opt-out or opt-in (keyword reply, WhatsApp preference, error 131050).

    ``event_key`` makes a redelivered webhook harmless; pass the wamid or a digest of the
    preference event, never a phone number. ``occurred_at`` is when the contact acted, as
    the provider says; ``rule`` is the keyword matcher's rule for a keyword reply. True when
    the contact's state changed.
    """
    keys = contact_keys(workspace=workspace, phone=phone, wa_user=wa_user)
    if not keys:
        return False
    channel_id = getattr(channel, "pk", None)
    with transaction.atomic(), workspace_scope(workspace):
        return _append(
            workspace=workspace,
            actor=Actor.system(),
            keys=keys,
            opt_out=opt_out,
            method=method,
            trigger=trigger,
            channel_id=channel_id,
            event_key=event_key,
            occurred_at=occurred_at,
            rule=rule,
        )


# Meta's error for a contact who stopped marketing messages, on a send or as a failed status.
MARKETING_STOPPED = 131050


def record_marketing_stopped(
    *,
    workspace: Workspace,
    channel: object,
    message: Message,
    event_key: str,
    at: datetime | None = None,
) -> bool:
    """Meta refused or failed ``message`` because its contact had stopped marketing messages:
    the contact's own opt-out, as of ``at`` (the status's timestamp; now for a refused send)."""
    return record_from_contact(
        workspace=workspace,
        channel=channel,
        phone=message.lead.phone,
        wa_user=message.conversation.wa_user_id,
        opt_out=True,
        method=OptOutRecord.Method.WHATSAPP,
        trigger=f"error:{MARKETING_STOPPED}",
        event_key=event_key[:128],
        occurred_at=at,
    )


def preference_event_key(*, contact_id: str, timestamp: object, value: str) -> str:
    """An idempotency key for a ``user_preferences`` item that does not reveal the contact."""
    raw = f"{contact_id}|{timestamp}|{value}".encode()
    return "up:" + hashlib.sha256(raw).hexdigest()[:60]


def _staff_change(
    *, workspace: Workspace, actor: Actor, lead: Lead, opt_out: bool, method: str
) -> OptOutState:
    if method not in {OptOutRecord.Method.MANUAL, OptOutRecord.Method.API}:
        raise ValueError(f"not a staff or API method: {method}")
    if not actor.role:
        raise PermissionDenied("messaging.no_role")
    # Anyone who chats may honour a stop; opting a contact back in on their word (say, on a
    # call) is for owners and managers, who answer for consent.
    require_capability(actor.role, Capability.CHAT if opt_out else Capability.CHANNELS_MANAGE)
    with transaction.atomic(), workspace_scope(workspace):
        if not lead_is_visible(viewer=viewer_for(actor=actor), lead=lead):
            raise Http404
        keys = lead_keys(workspace=workspace, lead=lead)
        if not keys:
            raise ValidationError(
                {"lead": [_("This lead has no phone number or WhatsApp contact to opt out.")]}
            )
        _append(
            workspace=workspace,
            actor=actor,
            keys=keys,
            opt_out=opt_out,
            method=method,
            trigger=method,
        )
        return state_for(workspace=workspace, keys=keys)


def lead_opt_out(
    *, workspace: Workspace, actor: Actor, lead: Lead, method: str = "manual"
) -> OptOutState:
    """Staff (``manual``) or an API client (``api``) records that the contact opted out."""
    return _staff_change(workspace=workspace, actor=actor, lead=lead, opt_out=True, method=method)


def lead_opt_in(
    *, workspace: Workspace, actor: Actor, lead: Lead, method: str = "manual"
) -> OptOutState:
    """Staff or an API client records that the contact asked to hear from us again."""
    return _staff_change(workspace=workspace, actor=actor, lead=lead, opt_out=False, method=method)
