"""Privacy fixtures on the three-tenant world (Alice owns A, Bob is sales in A, Charlie owns
B), and one person in A with a row in every category we hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from conftest import World
from heroshhi.accounts.services import api_key_create
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import WA_USER, blind_index
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import CustomField, Lead
from heroshhi.leads.services.custom_fields import custom_field_create
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.tasks import task_create
from heroshhi.messaging import optout
from heroshhi.messaging.models import Call, Channel, Conversation, Message
from heroshhi.privacy.consent import consent_grant
from heroshhi.whatsapp.tests.webhook_support import channel_rows
from heroshhi.workspaces.permissions import Role

# The platform console's staff fixtures (a staff user with a confirmed authenticator).
from heroshhi.workspaces.platform_admin.tests.conftest import (  # noqa: F401
    operator,
    staff,
    staff_client,
)

NAME = "Priya Raghunathan"
PHONE = "+919812345678"
EMAIL = "priya.r@example.in"
WA_USER_ID = "IN.1349876543210"
NOTE = "Prefers calls after six; budget twelve lakh"
TASK = "Send Priya the brochure"
MESSAGE_IN = "Hello, is the flat on MG Road still available?"
MESSAGE_OUT = "Yes it is, would you like a visit on Saturday?"
CALL_NOTES = "Asked about parking for two cars"
CUSTOM_VALUE = "Koramangala fourth block"
NOTICE_VERSION = "web-2026-02"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(world: World) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def bob(world: World) -> Actor:
    return Actor.user(world.bob.pk, role=Role.SALES)


@pytest.fixture
def charlie(world: World) -> Actor:
    return Actor.user(world.charlie.pk, role=Role.OWNER)


def issue_key(workspace: object, role: Role = Role.OWNER) -> dict[str, str]:
    plaintext = api_key_create(
        workspace=workspace,  # type: ignore[arg-type]
        actor=Actor.user("setup", role=Role.OWNER),
        created_by=None,
        name="test",
        role=role,
    ).plaintext
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}


@dataclass
class Person:
    lead: Lead
    channel: Channel
    conversation: Conversation
    messages: list[Message]
    call: Call

    @property
    def plaintexts(self) -> list[str]:
        return [NAME, PHONE, EMAIL, WA_USER_ID, NOTE, TASK, MESSAGE_IN, MESSAGE_OUT, CALL_NOTES]


def seed_person(world: World, actor: Actor, *, phone: str = PHONE, email: str = EMAIL) -> Person:
    """A lead with a custom value, a note, a task, a WhatsApp conversation with a message each
    way, a call, a marketing consent, an opt-out on the ledger and the timeline all of that
    wrote."""
    workspace = world.a
    with workspace_scope(workspace):
        has_field = CustomField.objects.filter(key="locality").exists()
    if not has_field:
        custom_field_create(workspace=workspace, actor=actor, label="Locality", kind="text")
    lead = lead_create(
        workspace=workspace,
        actor=actor,
        name=NAME,
        phone=phone,
        email=email,
        source="manual",
        custom_fields={"locality": CUSTOM_VALUE},
    ).lead
    note_add(workspace=workspace, actor=actor, lead=lead, body=NOTE)
    task_create(
        workspace=workspace,
        actor=actor,
        lead=lead,
        title=TASK,
        due_at=timezone.now() + timedelta(days=1),
    )
    now = timezone.now()
    with workspace_scope(workspace):
        channel = Channel.objects.filter(whatsapp__phone_number_id="100000000000009").first()
        if channel is None:
            channel = channel_rows(
                workspace, phone_number_id="100000000000009", display_phone_number="+91 90000 00009"
            ).channel
        conversation = Conversation.objects.create(
            workspace=workspace,
            lead=lead,
            channel=channel,
            wa_user_id=WA_USER_ID,
            wa_user_bidx=blind_index(workspace.pk, WA_USER, WA_USER_ID),
            last_inbound_at=now,
            last_message_at=now,
        )
        messages = [
            Message.objects.create(
                workspace=workspace,
                conversation=conversation,
                lead=lead,
                direction=Message.Direction.INBOUND,
                kind=Message.Kind.TEXT,
                body=MESSAGE_IN,
                status=Message.Status.RECEIVED,
                provider_message_id=f"wamid.in.{lead.pk}",
            ),
            Message.objects.create(
                workspace=workspace,
                conversation=conversation,
                lead=lead,
                direction=Message.Direction.OUTBOUND,
                kind=Message.Kind.TEXT,
                body=MESSAGE_OUT,
                status=Message.Status.DELIVERED,
                provider_message_id=f"wamid.out.{lead.pk}",
                sent_at=now,
                delivered_at=now,
            ),
        ]
        call = Call.objects.create(
            workspace=workspace,
            lead=lead,
            direction=Call.Direction.INBOUND,
            from_number=phone,
            to_number="+919000000009",
            started_at=now,
            duration_seconds=95,
            outcome=Call.Outcome.CONNECTED,
            notes=CALL_NOTES,
        )
    consent_grant(
        workspace=workspace, actor=actor, lead=lead, source="form", notice_version=NOTICE_VERSION
    )
    optout.lead_opt_out(workspace=workspace, actor=actor, lead=lead, method="manual")
    return Person(
        lead=lead, channel=channel, conversation=conversation, messages=messages, call=call
    )


@pytest.fixture
def person(world: World, alice: Actor) -> Person:
    return seed_person(world, alice)
