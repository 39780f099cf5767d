"""REST endpoints for a lead's messages and opt-out state, under /api/v1/leads/{id}/…

Sending answers 202: the message is recorded (status ``pending``) and handed to WhatsApp by
a job; its status moves on as WhatsApp reports it. A send a rule stops answers 409 with the
rule's code (``opted_out``, ``outside_window``, ``no_channel``); a template that does not fit
answers 422 ``template_invalid`` naming the fields.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import Field

from heroshhi.core.actors import Actor
from heroshhi.core.errors import ErrorEnvelope, error_response
from heroshhi.core.schemas import InputSchema
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.access import access_lead
from heroshhi.leads.models import Lead
from heroshhi.leads.services.sensitive_reads import lead_record_view
from heroshhi.messaging import optout, sending
from heroshhi.messaging.models import Message, OptOutRecord, said_at
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability

router = Router(tags=["messages"])
PAGE_SIZE = 50
PAGE_SIZE_MAX = 100


class MessageIn(InputSchema):
    type: Literal["text", "template"]
    text: str | None = Field(None, max_length=sending.TEXT_MAX + 100)
    quick_replies: list[Annotated[str, Field(max_length=sending.QUICK_REPLY_TITLE_MAX)]] | None = (
        Field(None, max_length=sending.QUICK_REPLIES_MAX)
    )
    template: str | None = Field(None, max_length=512)
    language: str | None = Field(None, max_length=15)
    variables: list[Annotated[str, Field(max_length=sending.VARIABLE_MAX)]] = Field(
        default_factory=list, max_length=20
    )


class MessageOut(Schema):
    id: uuid.UUID
    conversation: uuid.UUID
    direction: str
    kind: str
    body: str | None
    template: str | None
    quick_replies: list[str]
    status: str
    error_code: int | None
    error_reason: str
    provider_message_id: str | None
    attempts: int
    created_at: datetime
    # When the provider says an inbound message was sent; the list is in this order.
    provider_timestamp: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None


class MessagePageOut(Schema):
    items: list[MessageOut]
    next_cursor: str | None


class OptOutEntryOut(Schema):
    status: str
    method: str
    trigger: str
    at: datetime


class OptOutStateOut(Schema):
    lead: uuid.UUID
    opted_out: bool
    history: list[OptOutEntryOut]


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return request.workspace, request.actor  # type: ignore[attr-defined]


def _access(request: HttpRequest, lead_id: str) -> Lead:
    workspace, actor = _context(request)
    return access_lead(
        workspace=workspace,
        actor_role=actor.role or "",
        member_id=None,  # an API key is no member
        uid=lead_id,
        perm=Capability.CHAT,
    )


def _message_out(message: Message) -> MessageOut:
    data: dict[str, Any] = message.payload or {}
    return MessageOut(
        id=message.pk,
        conversation=message.conversation_id,
        direction=message.direction,
        kind=message.kind,
        body=message.body,
        template=data.get("template") if message.kind == Message.Kind.TEMPLATE else None,
        quick_replies=list(data.get("quick_replies") or []),
        status=message.status,
        error_code=message.error_code,
        error_reason=message.error_reason,
        provider_message_id=message.provider_message_id,
        attempts=message.attempts,
        created_at=message.created_at,
        provider_timestamp=message.provider_timestamp,
        sent_at=message.sent_at,
        delivered_at=message.delivered_at,
        read_at=message.read_at,
        failed_at=message.failed_at,
    )


def _encode_cursor(message: Message) -> str:
    raw = f"{message.said_at.isoformat()}|{message.created_at.isoformat()}|{message.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, datetime, uuid.UUID]:
    try:
        said, created, uid = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(said), datetime.fromisoformat(created), uuid.UUID(uid)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": [_("This cursor is not valid.")]}) from None


def _messages_page(
    *, workspace: Workspace, lead: Lead, cursor: str | None, limit: int
) -> MessagePageOut:
    """Newest first in the order they were said (ties by arrival); ``next_cursor``
    continues with older messages."""
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    with workspace_scope(workspace):
        messages = (
            Message.objects.filter(lead=lead)
            .alias(said=said_at())
            .order_by("-said", "-created_at", "-id")
        )
        if cursor:
            said, created, uid = _decode_cursor(cursor)
            messages = messages.filter(
                Q(said__lt=said)
                | Q(said=said, created_at__lt=created)
                | Q(said=said, created_at=created, id__lt=uid)
            )
        rows = list(messages[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return MessagePageOut(
        items=[_message_out(message) for message in rows],
        next_cursor=_encode_cursor(rows[-1]) if more else None,
    )


def _refused(refusal: sending.SendRefused) -> JsonResponse:
    message = refusal.message
    error: dict[str, object] = {"code": refusal.code, "message": message}
    if refusal.code == sending.SendRefused.OUTSIDE_WINDOW:
        names = ", ".join(refusal.templates) or _("none yet; check the channel to sync them")
        error["message"] = f"{message} " + _("Approved templates: %(names)s.") % {"names": names}
        error["templates"] = refusal.templates
    return JsonResponse({"error": error}, status=409)


@router.get("/{lead_id}/messages", response=MessagePageOut)
def lead_messages_list(
    request: HttpRequest, lead_id: str, cursor: str | None = None, limit: int = PAGE_SIZE
) -> MessagePageOut:
    workspace, actor = _context(request)
    lead = _access(request, lead_id)
    page = _messages_page(workspace=workspace, lead=lead, cursor=cursor, limit=limit)
    lead_record_view(workspace=workspace, actor=actor, lead=lead)
    return page


@router.post("/{lead_id}/messages", response={202: MessageOut, 409: ErrorEnvelope})
def lead_messages_send(
    request: HttpRequest, lead_id: str, payload: MessageIn
) -> Status[MessageOut] | JsonResponse:
    """``{"type": "text", "text": "…"}`` inside the 24-hour window, or
    ``{"type": "template", "template": "<name>", "language": "en", "variables": […]}``."""
    workspace, actor = _context(request)
    lead = _access(request, lead_id)
    try:
        if payload.type == "text":
            message = sending.send_text(
                workspace=workspace,
                actor=actor,
                lead=lead,
                text=payload.text or "",
                quick_replies=payload.quick_replies,
            )
        else:
            message = _send_template(workspace, actor, lead, payload)
    except sending.SendRefused as refusal:
        return _refused(refusal)
    except _TemplateInvalid as invalid:
        return error_response(
            422,
            sending.SendRefused.TEMPLATE_INVALID,
            _("This template cannot be sent as given."),
            invalid.fields,
        )
    return Status(202, _message_out(message))


class _TemplateInvalid(Exception):
    """The template's own checks failed (as opposed to a malformed request)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("template_invalid")
        self.fields = fields


def _send_template(workspace: Workspace, actor: Actor, lead: Lead, payload: MessageIn) -> Message:
    missing = {
        field: [_("This is required for a template.")]
        for field in ("template", "language")
        if not getattr(payload, field)
    }
    if missing:
        raise ValidationError(missing)
    try:
        return sending.send_template(
            workspace=workspace,
            actor=actor,
            lead=lead,
            template_name=payload.template or "",
            language=payload.language or "",
            variables=list(payload.variables),
        )
    except ValidationError as invalid:
        if not hasattr(invalid, "error_dict"):
            raise
        fields = {name: [str(m) for m in msgs] for name, msgs in invalid.message_dict.items()}
        # Input the service refused before looking at the lead (bad variable values) is
        # also about the template's variables; the lead's own problems stay plain 422s.
        if "lead" in fields:
            raise
        raise _TemplateInvalid(fields) from None


def _state_out(workspace: Workspace, lead: Lead) -> OptOutStateOut:
    ledger = optout.ledger_for_lead(workspace=workspace, lead=lead)
    return OptOutStateOut(
        lead=lead.pk,
        opted_out=bool(ledger) and ledger[0].status == OptOutRecord.Status.OPTED_OUT,
        history=[
            OptOutEntryOut(
                status=record.status,
                method=record.method,
                trigger=record.trigger,
                at=record.created_at,
            )
            for record in ledger
        ],
    )


@router.get("/{lead_id}/opt-out", response=OptOutStateOut)
def lead_optout_state(request: HttpRequest, lead_id: str) -> OptOutStateOut:
    """Whether the contact is opted out now, and every ledger record about them."""
    workspace, _actor = _context(request)
    return _state_out(workspace, _access(request, lead_id))


@router.post("/{lead_id}/opt-out", response=OptOutStateOut)
def lead_optout_record(request: HttpRequest, lead_id: str) -> OptOutStateOut:
    """Record that the contact asked to stop (method ``api``); every send path honours it."""
    workspace, actor = _context(request)
    lead = _access(request, lead_id)
    optout.lead_opt_out(workspace=workspace, actor=actor, lead=lead, method="api")
    return _state_out(workspace, lead)


@router.post("/{lead_id}/opt-in", response=OptOutStateOut)
def lead_optin_record(request: HttpRequest, lead_id: str) -> OptOutStateOut:
    """Record that the contact asked to hear from us again (owner and manager keys)."""
    workspace, actor = _context(request)
    lead = _access(request, lead_id)
    optout.lead_opt_in(workspace=workspace, actor=actor, lead=lead, method="api")
    return _state_out(workspace, lead)
