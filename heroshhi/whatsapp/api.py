"""REST endpoints for WhatsApp channels, under /api/v1/channels/whatsapp.

Owner and manager keys only. Secrets go in and never come out: responses carry the
channel's ids, settings, check state and the webhook URL to paste into Meta's dashboard.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, cast

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import Field

from heroshhi.core.actors import Actor
from heroshhi.core.errors import error_response
from heroshhi.core.schemas import InputSchema
from heroshhi.messaging.models import MessageTemplate
from heroshhi.whatsapp import selectors, services
from heroshhi.whatsapp.models import FailedInboundItem, WhatsAppChannel
from heroshhi.whatsapp.services_failed_items import ReplayOutcome, failed_item_replay
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

router = Router(tags=["channels"])


class ChannelIn(InputSchema):
    phone_number_id: str = Field(max_length=32)
    waba_id: str = Field(max_length=32)
    display_phone_number: str = Field(max_length=30)
    access_token: str = Field(max_length=services.SECRET_MAX)
    app_secret: str = Field(max_length=services.SECRET_MAX)
    verify_token: str = Field(max_length=services.SECRET_MAX)
    label: str = Field("", max_length=services.LABEL_MAX)
    throughput_tier: int = WhatsAppChannel.Tier.STANDARD


class ChannelOut(Schema):
    id: uuid.UUID
    label: str
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    throughput_tier: int
    webhook_url: str
    created_at: datetime
    last_checked_at: datetime | None
    last_check_ok: bool | None
    last_check_error: str


class ChannelCheckOut(Schema):
    ok: bool
    templates: int
    error: str
    channel: ChannelOut


class TemplateOut(Schema):
    id: uuid.UUID
    name: str
    language: str
    category: str
    status: str
    body: str
    parameter_count: int
    synced_at: datetime


class FailedItemOut(Schema):
    id: uuid.UUID
    channel: uuid.UUID
    # None once the delivery's body is no longer kept: the item cannot be replayed then.
    delivery: uuid.UUID | None
    path: str
    kind: str
    reason: str
    state: str
    replayable: bool
    replay_attempts: int
    created_at: datetime
    replayed_at: datetime | None


# Every outcome but "gone", which answers 409.
AnsweredOutcome = Literal["replayed", "already_replayed", "failed"]


class FailedItemReplayOut(Schema):
    outcome: AnsweredOutcome
    item: FailedItemOut


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return request.workspace, request.actor  # type: ignore[attr-defined]


def _channel_out(request: HttpRequest, channel: WhatsAppChannel) -> ChannelOut:
    return ChannelOut(
        id=channel.pk,
        label=channel.channel.label,
        phone_number_id=channel.phone_number_id,
        waba_id=channel.waba_id,
        display_phone_number=channel.channel.display_phone_number,
        throughput_tier=channel.channel.throughput_tier,
        webhook_url=services.webhook_url(request, channel),
        created_at=channel.channel.created_at,
        last_checked_at=channel.last_checked_at,
        last_check_ok=channel.last_check_ok,
        last_check_error=channel.last_check_error,
    )


def _template_out(template: MessageTemplate) -> TemplateOut:
    return TemplateOut(
        id=template.pk,
        name=template.name,
        language=template.language,
        category=template.category,
        status=template.status,
        body=template.body,
        parameter_count=template.parameter_count,
        synced_at=template.synced_at,
    )


def _access(request: HttpRequest, channel_id: str) -> WhatsAppChannel:
    workspace, actor = _context(request)
    return selectors.access_channel(
        workspace=workspace, actor_role=actor.role or "", uid=channel_id
    )


@router.get("", response=list[ChannelOut])
def channels_list(request: HttpRequest) -> list[ChannelOut]:
    workspace, actor = _context(request)
    require_capability(actor.role or "", Capability.CHANNELS_MANAGE)
    return [_channel_out(request, c) for c in selectors.channels_list(workspace=workspace)]


@router.post("", response={201: ChannelOut})
def channels_create(request: HttpRequest, payload: ChannelIn) -> Status[ChannelOut]:
    """Connect a Cloud API number. A number can be connected to one workspace at a time."""
    workspace, actor = _context(request)
    channel = services.channel_create(workspace=workspace, actor=actor, **payload.model_dump())
    return Status(201, _channel_out(request, channel))


# Before the routes by channel id, which would otherwise take "failed-items" for one.
def _failed_item_out(item: FailedInboundItem) -> FailedItemOut:
    return FailedItemOut(
        id=item.pk,
        channel=item.channel_id,
        delivery=item.delivery_id,
        path=item.path,
        kind=item.kind,
        reason=item.reason,
        state=item.state,
        replayable=item.replayable,
        replay_attempts=item.replay_attempts,
        created_at=item.created_at,
        replayed_at=item.replayed_at,
    )


@router.get("/failed-items", response=list[FailedItemOut])
def failed_items_list(
    request: HttpRequest, state: Literal["pending", "replayed"] | None = None
) -> list[FailedItemOut]:
    """Inbound items set aside while the rest of their delivery was stored, newest first."""
    workspace, actor = _context(request)
    items = selectors.failed_items_list(
        workspace=workspace, actor_role=actor.role or "", state=state
    )
    return [_failed_item_out(item) for item in items]


@router.post("/failed-items/{item_id}/replay", response=FailedItemReplayOut)
def failed_items_replay(request: HttpRequest, item_id: str) -> FailedItemReplayOut | JsonResponse:
    """Read the item again from its delivery and apply it. Idempotent: a replayed item
    answers ``already_replayed``; one that fails again answers ``failed`` with the new
    reason on the item. 409 when the delivery's body is no longer kept."""
    workspace, actor = _context(request)
    replay = failed_item_replay(workspace=workspace, actor=actor, item_id=item_id)
    if replay.outcome == ReplayOutcome.GONE:
        return error_response(
            409,
            "failed_item.body_gone",
            _("This item can no longer be replayed: its delivery is no longer kept."),
        )
    outcome = cast(AnsweredOutcome, replay.outcome.value)
    return FailedItemReplayOut(outcome=outcome, item=_failed_item_out(replay.item))


@router.delete("/{channel_id}", response={204: None})
def channels_delete(request: HttpRequest, channel_id: str) -> Status[None]:
    workspace, actor = _context(request)
    channel = _access(request, channel_id)
    services.channel_delete(workspace=workspace, actor=actor, channel=channel)
    return Status(204, None)


@router.post("/{channel_id}/check", response=ChannelCheckOut)
def channels_check(request: HttpRequest, channel_id: str) -> ChannelCheckOut:
    """Check the connection with Meta and sync the account's message templates.

    A refusal by Meta is a result, not an API error: 200 with ``ok: false`` and the reason
    (also kept on the channel as ``last_check_error``)."""
    workspace, actor = _context(request)
    channel = _access(request, channel_id)
    result = services.channel_check(workspace=workspace, actor=actor, channel=channel)
    channel = _access(request, channel_id)
    return ChannelCheckOut(
        ok=result.ok,
        templates=result.templates,
        error=result.error,
        channel=_channel_out(request, channel),
    )


@router.get("/{channel_id}/templates", response=list[TemplateOut])
def channels_templates(request: HttpRequest, channel_id: str) -> list[TemplateOut]:
    workspace, _actor = _context(request)
    channel = _access(request, channel_id)
    return [
        _template_out(t) for t in selectors.templates_list(workspace=workspace, channel=channel)
    ]
