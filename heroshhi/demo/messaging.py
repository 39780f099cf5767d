"""WhatsApp for the demo workspace: a number wired to the bundled simulator, its templates,
and conversations in every state the inbox shows.

The number, its templates and the opt-out and calls go through the real services. The
message history is written as rows with past timestamps, because the send and receive
services stamp "now" and a demo needs yesterday's and last week's messages too; the rows,
their timeline entries and the conversations' window fields are exactly what those services
would have left behind.

`make run` starts the simulator with ``var/wa-simulator.json``, written here: the demo
number, its secrets (fixed, made-up values that only the local simulator accepts) and the
webhook URL of the local web server, so a message typed on the simulator's customer page
reaches the demo inbox.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.messaging import calls, keywords, optout
from heroshhi.messaging.errors import reason_for
from heroshhi.messaging.models import (
    Channel,
    Conversation,
    Message,
    MessageTemplate,
    OptOutRecord,
)
from heroshhi.messaging.templates import template_placeholders
from heroshhi.whatsapp.models import WhatsAppChannel
from heroshhi.whatsapp.services import channel_create, webhook_url
from heroshhi.whatsapp.simulator.defaults import default_templates
from heroshhi.workspaces.models import Workspace

DEMO_CHANNEL_LABEL = "Demo WhatsApp"
DEMO_PHONE_NUMBER_ID = "109990000000001"
DEMO_WABA_ID = "209990000000001"
DEMO_DISPLAY_NUMBER = "+91 90000 99999"
# Made up, and only ever accepted by the local simulator.
DEMO_ACCESS_TOKEN = "demo-access-token-for-the-local-simulator"  # noqa: S105
DEMO_APP_SECRET = "demo-app-secret-for-the-local-simulator"  # noqa: S105
DEMO_VERIFY_TOKEN = "demo-verify-token"  # noqa: S105
SIMULATOR_CONFIG_NAME = "wa-simulator.json"
DEFAULT_WEB_PORT = 8000


def simulator_config_path() -> Path:
    return Path(settings.VAR_DIR) / SIMULATOR_CONFIG_NAME


def _web_port() -> int:
    """The port `make run` serves on (runstack's ``--port`` defaults to $PORT, else 8000)."""
    try:
        return int(os.environ.get("PORT", DEFAULT_WEB_PORT))
    except ValueError:
        return DEFAULT_WEB_PORT


def write_simulator_config(*, channel: WhatsAppChannel, web_port: int | None = None) -> Path:
    """Tell the simulator `make run` starts about the demo number and where its webhooks go."""
    base = f"http://127.0.0.1:{web_port or _web_port()}"
    config = {
        "numbers": [
            {
                "phone_number_id": DEMO_PHONE_NUMBER_ID,
                "waba_id": DEMO_WABA_ID,
                "display_phone_number": DEMO_DISPLAY_NUMBER,
                "access_token": DEMO_ACCESS_TOKEN,
                "app_secret": DEMO_APP_SECRET,
                "verify_token": DEMO_VERIFY_TOKEN,
                "verified_name": "Demo Traders",
                "webhook_url": webhook_url(base, channel),
            }
        ],
        # A short, human-feeling delay before "delivered"; reading is the customer's click.
        "settings": {"latency_ms": 400, "auto_read": False},
    }
    path = simulator_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    return path


def _templates(*, workspace: Workspace, channel: WhatsAppChannel, now: datetime) -> None:
    """The simulator's default template set, as a "Check connection" would have synced it."""
    for item in default_templates(DEMO_WABA_ID):
        body = next(c["text"] for c in item["components"] if c["type"] == "BODY")
        MessageTemplate.objects.get_or_create(
            workspace=workspace,
            channel=channel.channel,
            name=item["name"],
            language=item["language"],
            defaults={
                "provider_template_id": item["id"],
                "category": item["category"],
                "status": item["status"],
                "body": body,
                "parameter_count": len(template_placeholders(body)),
                "synced_at": now,
            },
        )
    channel.last_checked_at = now
    channel.last_check_ok = True
    channel.save(update_fields=["last_checked_at", "last_check_ok"])


# Conversations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """One message of a scripted conversation, ``ago`` before now."""

    ago: timedelta
    direction: str  # "in" or "out"
    text: str
    status: str = Message.Status.READ
    kind: str = Message.Kind.TEXT
    error_code: int | None = None
    template: str | None = None


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


IN, OUT = Message.Direction.INBOUND, Message.Direction.OUTBOUND
R, D, F = Message.Status.READ, Message.Status.DELIVERED, Message.Status.FAILED
TEMPLATE = Message.Kind.TEMPLATE

# (script, unread count). In-window ones first, then older ones, then the failed template.
SCRIPTS: tuple[tuple[tuple[_Line, ...], int], ...] = (
    (
        (
            _Line(_m(42), IN, "Hi, I saw your ad. Are the steel almirahs available in grey?"),
            _Line(_m(35), OUT, "Hello! Yes, grey and ivory are both in stock.", R),
            _Line(_m(6), IN, "Great, what is the price for two, delivered to Pune?"),
        ),
        1,
    ),
    (
        (
            _Line(_m(190), IN, "Namaste, do you install the rooftop solar panels as well?"),
            _Line(_m(170), OUT, "Yes, installation is included. Shall I share a quote?", D),
            _Line(_m(12), IN, "Yes please"),
            _Line(_m(3), IN, "My roof is about 600 sq ft"),
        ),
        2,
    ),
    (
        (
            _Line(_m(600), IN, "Need 20 office chairs for our new branch"),
            _Line(_m(590), OUT, "Sure! Here is our catalogue. Which model do you like?", R),
            _Line(_m(560), IN, "The mesh back one, model OC-12"),
            _Line(_m(555), OUT, "Noted. Delivery in 5 working days; 8% off for 20 units.", D),
        ),
        0,
    ),
    (
        (
            _Line(_m(3 * 1440), IN, "Is the RO purifier covered by warranty?"),
            _Line(_m(3 * 1440 - 20), OUT, "Yes, 2 years on parts and service.", R),
            _Line(
                _m(1440),
                OUT,
                "Hi {first}, thanks for your interest in RO water purifiers. Can we help you "
                "choose?",
                D,
                TEMPLATE,
                template="lead_followup",
            ),
        ),
        0,
    ),
    (
        (
            _Line(_m(9 * 1440), IN, "Send me the price list for ceiling fans"),
            _Line(_m(9 * 1440 - 30), OUT, "Sharing it now — prices include GST.", R),
        ),
        0,
    ),
    (
        (
            _Line(_m(5 * 1440), IN, "What are your shop timings?"),
            _Line(_m(5 * 1440 - 10), OUT, "10 am to 8 pm, all days except Tuesday.", R),
            _Line(
                _m(2 * 1440),
                OUT,
                "Hi, welcome! Enjoy 10% off your first order this week.",
                F,
                TEMPLATE,
                error_code=131026,
                template="welcome_offer",
            ),
        ),
        0,
    ),
)


def _message(
    *,
    workspace: Workspace,
    conversation: Conversation,
    line: _Line,
    now: datetime,
    serial: int,
    sent_by_id: Any,
) -> Message:
    at = now - line.ago
    outbound = line.direction == OUT
    first_name = (conversation.lead.name or "").split(" ")[0] or "there"
    status = line.status if outbound else Message.Status.RECEIVED
    message = Message.objects.create(
        workspace=workspace,
        conversation=conversation,
        lead=conversation.lead,
        direction=line.direction,
        kind=line.kind,
        body=line.text.format(first=first_name),
        payload={"template": {"name": line.template, "language": "en"}} if line.template else None,
        provider_message_id=f"wamid.DEMO{serial:06d}",
        status=status,
        error_code=line.error_code,
        error_reason=reason_for(line.error_code) if line.error_code else "",
        attempts=1 if outbound else 0,
        sent_by_id=sent_by_id if outbound else None,
        actor_type="user" if outbound else "contact",
        created_at=at,
        provider_timestamp=None if outbound else at,
        sent_at=at if outbound and status != F else None,
        delivered_at=at + _m(0.1) if status in (D, R) else None,
        read_at=at + _m(2) if status == R else None,
        failed_at=at + _m(0.1) if status == F else None,
    )
    TimelineEvent.objects.create(
        workspace=workspace,
        lead=conversation.lead,
        kind=TimelineEvent.Kind.MESSAGE_OUT if outbound else TimelineEvent.Kind.MESSAGE_IN,
        actor_type="user" if outbound else "contact",
        actor_id=str(sent_by_id) if outbound else "",
        data={"message": str(message.pk), "kind": line.kind},
        created_at=at,
    )
    return message


def _conversation(
    *,
    workspace: Workspace,
    channel: Channel,
    lead: Lead,
    script: tuple[_Line, ...],
    unread: int,
    now: datetime,
    serial: int,
) -> int:
    conversation = Conversation.objects.create(
        workspace=workspace,
        lead=lead,
        channel=channel,
        created_at=now - script[0].ago,
        last_inbound_at=now - min(line.ago for line in script if line.direction == IN),
        last_message_at=now - min(line.ago for line in script),
        unread_count=unread,
    )
    sent_by = lead.owner.user_id if lead.owner else None
    for line in script:
        serial += 1
        _message(
            workspace=workspace,
            conversation=conversation,
            line=line,
            now=now,
            serial=serial,
            sent_by_id=sent_by,
        )
    return serial


def _opted_out_contact(
    *, workspace: Workspace, channel: Channel, lead: Lead, now: datetime, serial: int
) -> int:
    """A contact who has just written STOP: the ledger record, then our confirmation."""
    script = (
        _Line(timedelta(days=2), IN, "Please send the school uniform sizes"),
        _Line(timedelta(days=2) - _m(15), OUT, "Sizes 22 to 40 are available. Any others?", R),
        _Line(_m(1), IN, "STOP"),
        _Line(_m(0.9), OUT, keywords.CONFIRM_OPT_OUT_TEXT, R),
    )
    serial = _conversation(
        workspace=workspace,
        channel=channel,
        lead=lead,
        script=script,
        unread=0,
        now=now,
        serial=serial,
    )
    optout.record_from_contact(
        workspace=workspace,
        channel=channel,
        phone=lead.phone,
        wa_user=None,
        opt_out=True,
        method=OptOutRecord.Method.KEYWORD,
        trigger="stop",
        event_key=f"kw:wamid.DEMO{serial - 1:06d}",
    )
    return serial


def _calls(*, workspace: Workspace, actor: Actor, leads: list[Lead], now: datetime) -> None:
    for lead, (ago, direction, outcome, seconds, notes) in zip(
        leads,
        (
            (_m(50), "out", "connected", 262, "Confirmed the colour; sending the quotation."),
            (_m(26 * 60), "in", "no_answer", 0, None),
        ),
        strict=False,
    ):
        calls.call_log(
            workspace=workspace,
            actor=actor,
            lead=lead,
            direction=direction,
            started_at=now - ago,
            duration_seconds=seconds,
            outcome=outcome,
            notes=notes,
        )


def _demo_leads(workspace: Workspace, count: int) -> list[Lead]:
    """The oldest live leads with a phone number: deterministic for a given seed."""
    return list(
        Lead.objects.filter(deleted_at__isnull=True, phone_bidx__isnull=False)
        .select_related("owner")
        .order_by("created_at", "id")[:count]
    )


@transaction.atomic
def seed_messaging(*, workspace: Workspace, owner: Actor, web_port: int | None = None) -> None:
    """The demo number, templates, conversations, an opt-out and calls; once per workspace.
    The simulator config is (re)written every time, so it always names the current port."""
    now = timezone.now()
    with workspace_scope(workspace):
        channel = WhatsAppChannel.objects.filter(
            phone_number_id=DEMO_PHONE_NUMBER_ID, live=True
        ).first()
        if channel is None:
            channel = channel_create(
                workspace=workspace,
                actor=owner,
                phone_number_id=DEMO_PHONE_NUMBER_ID,
                waba_id=DEMO_WABA_ID,
                display_phone_number=DEMO_DISPLAY_NUMBER,
                access_token=DEMO_ACCESS_TOKEN,
                app_secret=DEMO_APP_SECRET,
                verify_token=DEMO_VERIFY_TOKEN,
                label=DEMO_CHANNEL_LABEL,
            )
            _templates(workspace=workspace, channel=channel, now=now)
            leads = _demo_leads(workspace, len(SCRIPTS) + 1)
            serial = 0
            for lead, (script, unread) in zip(leads, SCRIPTS, strict=False):
                serial = _conversation(
                    workspace=workspace,
                    channel=channel.channel,
                    lead=lead,
                    script=script,
                    unread=unread,
                    now=now,
                    serial=serial,
                )
            if len(leads) > len(SCRIPTS):
                _opted_out_contact(
                    workspace=workspace,
                    channel=channel.channel,
                    lead=leads[-1],
                    now=now,
                    serial=serial,
                )
            _calls(workspace=workspace, actor=owner, leads=leads[:2], now=now)
    write_simulator_config(channel=channel, web_port=web_port)
