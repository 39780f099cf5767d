"""Replaying an inbound item that was set aside (docs/adr/0017).

A replay reads the item again from its delivery's stored body and applies it as the inbox
would have. Applying is idempotent (a message by wamid, a status by its order, …), so a
replay after the item got in some other way changes nothing, and a second replay of a
replayed item does nothing at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, transaction
from django.utils import timezone

from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.whatsapp.inbox import item_apply
from heroshhi.whatsapp.models import FailedInboundItem, WebhookDelivery
from heroshhi.whatsapp.parsing import ItemError, PayloadError, item_at, load_body, parse_delivery
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability


class ReplayOutcome(StrEnum):
    REPLAYED = "replayed"
    ALREADY_REPLAYED = "already_replayed"
    # It failed again; ``reason`` says why now.
    FAILED = "failed"
    # Its delivery's body is no longer kept (pruned or erased): nothing left to replay.
    GONE = "gone"


@dataclass(frozen=True, slots=True)
class Replay:
    item: FailedInboundItem
    outcome: ReplayOutcome


def failed_item_replay(*, workspace: Workspace, actor: Actor, item_id: uuid.UUID | str) -> Replay:
    """Read the set-aside item again and apply it; audited whatever the outcome."""
    require_capability(actor.role or "", Capability.CHANNELS_MANAGE)
    with transaction.atomic(), workspace_scope(workspace):
        # Locked, so two replays of one item run one after the other.
        item = get_in_scope_or_404(
            FailedInboundItem.objects.select_for_update(of=("self",)).select_related(
                "channel__channel"
            ),
            item_id,
        )
        if item.state == FailedInboundItem.State.REPLAYED:
            return Replay(item=item, outcome=ReplayOutcome.ALREADY_REPLAYED)
        delivery = (
            WebhookDelivery.objects.filter(pk=item.delivery_id).first()
            if item.delivery_id
            else None
        )
        if delivery is None:
            outcome, reason = ReplayOutcome.GONE, "body_gone"
        else:
            outcome, reason = _apply_again(workspace, item, delivery)
        item.replay_attempts += 1
        if outcome == ReplayOutcome.REPLAYED:
            item.state, item.replayed_at = FailedInboundItem.State.REPLAYED, timezone.now()
        else:
            item.reason = reason[:100]
        item.save(update_fields=["state", "replayed_at", "reason", "replay_attempts"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.INBOUND_ITEM_REPLAYED,
            outcome=Outcome.SUCCESS if outcome == ReplayOutcome.REPLAYED else Outcome.FAILURE,
            target=("failed_inbound_item", item.pk),
            reason="" if outcome == ReplayOutcome.REPLAYED else reason,
            metadata={"kind": item.kind, "attempt": item.replay_attempts},
        )
    return Replay(item=item, outcome=outcome)


def _apply_again(
    workspace: Workspace, item: FailedInboundItem, delivery: WebhookDelivery
) -> tuple[ReplayOutcome, str]:
    try:
        parsed = parse_delivery(
            load_body(delivery.body), phone_number_id=item.channel.phone_number_id
        )
    except PayloadError as exc:
        return ReplayOutcome.FAILED, exc.reason
    found = item_at(parsed, item.path)
    if found is None:
        return ReplayOutcome.FAILED, "not_in_body"
    if isinstance(found, ItemError):
        return ReplayOutcome.FAILED, found.reason
    try:
        item_apply(workspace, item.channel.channel, found)
    except ValidationError:
        return ReplayOutcome.FAILED, f"rejected:{type(found).__name__}"
    except DataError:
        return ReplayOutcome.FAILED, "store_failed:DataError"
    except DatabaseError as exc:
        # Class names only: an exception's text may quote a value.
        return ReplayOutcome.FAILED, f"item_failed:{type(exc).__name__}"
    return ReplayOutcome.REPLAYED, ""
