"""Sending to a lead on WhatsApp: every rule, checked in the call that records the send.

A send is accepted here and delivered by ``heroshhi.messaging.tasks.deliver_message`` after
the transaction commits. The rules, in order:

0. the workspace is active: a suspended or terminating one sends nothing
   (``workspace_suspended``);
1. the actor may chat and sees the lead (sales: their own leads), which is live;
2. a live channel exists (``no_channel``) and the lead can be addressed (a phone number, or
   the WhatsApp user id of an earlier conversation);
3. the contact has not opted out (``opted_out``) and their data is not under a processing
   restriction (``restricted``, a privacy request), asked in this same transaction, and once
   more by the delivery task, since a STOP can arrive in between;
4. free-form text only inside the 24-hour window (``outside_window``); templates must exist,
   be approved, in that language, with exactly their number of variables (a ValidationError
   naming the fields).

A refused attempt is audited as ``message_refused`` with the reason code and nothing else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.metadata import looks_personal
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.selectors import lead_is_visible, viewer_for
from heroshhi.messaging import optout
from heroshhi.messaging.channels import channel_for_lead, live_channel
from heroshhi.messaging.models import (
    SERVICE_WINDOW_HOURS,
    Channel,
    Conversation,
    Message,
    MessageTemplate,
)
from heroshhi.messaging.templates import (
    APPROVED,
    approved_template_names,
    render_template,
    template_placeholders,
)
from heroshhi.privacy.selectors import is_restricted
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

TEXT_MAX = 4096
# WhatsApp's limits for reply-button messages.
INTERACTIVE_TEXT_MAX = 1024
QUICK_REPLIES_MAX = 3
QUICK_REPLY_TITLE_MAX = 20
VARIABLE_MAX = 1024


class SendRefused(Exception):
    """A send stopped by a messaging rule. ``code`` is one of the constants below."""

    OPTED_OUT = "opted_out"
    OUTSIDE_WINDOW = "outside_window"
    RESTRICTED = "restricted"
    NO_CHANNEL = "no_channel"
    TEMPLATE_INVALID = "template_invalid"
    WORKSPACE_SUSPENDED = "workspace_suspended"

    def __init__(self, code: str, message: str, *, templates: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # For outside_window: the approved templates that could be sent instead.
        self.templates = templates or []


# The window and templates ---------------------------------------------------------------


def window_closes_at(conversation: Conversation | None) -> datetime | None:
    if conversation is None or conversation.last_inbound_at is None:
        return None
    return conversation.last_inbound_at + timedelta(hours=SERVICE_WINDOW_HOURS)


def window_open(conversation: Conversation | None, now: datetime | None = None) -> bool:
    """Free-form messages are allowed for 24 hours after the contact's last message."""
    closes = window_closes_at(conversation)
    return closes is not None and (now or timezone.now()) < closes


# Input checks (before any query) ----------------------------------------------------------


def _clean_text(text: object, *, limit: int) -> str:
    value = str(text or "").strip()
    if not value:
        raise ValidationError({"text": [_("Write a message.")]})
    if len(value) > limit:
        raise ValidationError({"text": [_("Keep it under %(n)s characters.") % {"n": limit}]})
    return value


def _clean_quick_replies(quick_replies: list[str] | None) -> list[str]:
    titles = [" ".join(str(title or "").split()) for title in quick_replies or []]
    if len(titles) > QUICK_REPLIES_MAX:
        raise ValidationError(
            {"quick_replies": [_("At most %(n)s quick replies.") % {"n": QUICK_REPLIES_MAX}]}
        )
    if any(not title or len(title) > QUICK_REPLY_TITLE_MAX for title in titles):
        raise ValidationError(
            {
                "quick_replies": [
                    _("Each quick reply needs 1 to %(n)s characters.")
                    % {"n": QUICK_REPLY_TITLE_MAX}
                ]
            }
        )
    if len({title.casefold() for title in titles}) != len(titles):
        raise ValidationError({"quick_replies": [_("Quick replies must differ.")]})
    return titles


def _clean_variables(variables: list[Any] | None) -> list[str]:
    cleaned: list[str] = []
    for value in variables or []:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError({"variables": [_("Each variable must be text.")]})
        text = str(value).strip()
        # WhatsApp refuses empty values, line breaks and tabs inside template variables.
        if not text or len(text) > VARIABLE_MAX or any(ch in text for ch in "\n\r\t"):
            raise ValidationError(
                {
                    "variables": [
                        _("Each variable needs 1 to %(n)s characters on one line.")
                        % {"n": VARIABLE_MAX}
                    ]
                }
            )
        cleaned.append(text)
    return cleaned


# Who, where, to whom ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    lead: Lead
    channel: Channel
    conversation: Conversation | None


def _live_channel(*, workspace: Workspace, lead: Lead, channel: Channel | None) -> Channel | None:
    if channel is None:
        return channel_for_lead(workspace=workspace, lead=lead)
    return live_channel(workspace=workspace, channel=channel)


def _addressable(*, lead: Lead, conversation: Conversation | None) -> bool:
    return bool(lead.phone or (conversation is not None and conversation.wa_user_id))


def _target(
    *, workspace: Workspace, actor: Actor, lead: Lead, channel: Channel | None
) -> _Target | SendRefused:
    """The checks that say nothing about the contact's wishes; call inside the scope."""
    if not actor.role:
        raise PermissionDenied("messaging.no_role")
    require_capability(actor.role, Capability.CHAT)
    if not lead_is_visible(viewer=viewer_for(actor=actor), lead=lead) or lead.deleted_at:
        raise Http404
    live_channel = _live_channel(workspace=workspace, lead=lead, channel=channel)
    if live_channel is None:
        return SendRefused(
            SendRefused.NO_CHANNEL,
            _("No WhatsApp number is connected to this workspace yet."),
        )
    conversation = Conversation.objects.filter(lead=lead, channel=live_channel).first()
    if not _addressable(lead=lead, conversation=conversation):
        raise ValidationError({"lead": [_("This lead has no phone number to message.")]})
    return _Target(lead=lead, channel=live_channel, conversation=conversation)


def _workspace_inactive(workspace: Workspace) -> SendRefused | None:
    # Read again, not taken from ``workspace``: the caller's copy may predate a suspension.
    status = Workspace.objects.filter(pk=workspace.pk).values_list("status", flat=True).first()
    if status == Workspace.Status.ACTIVE:
        return None
    return SendRefused(
        SendRefused.WORKSPACE_SUSPENDED,
        _("This workspace is suspended or being terminated: it cannot send messages."),
    )


def _opted_out(workspace: Workspace, lead: Lead) -> SendRefused | None:
    if optout.lead_is_opted_out(workspace=workspace, lead=lead):
        return SendRefused(
            SendRefused.OPTED_OUT,
            _("This contact opted out of messages. They can opt back in by replying START."),
        )
    return None


def _restricted(workspace: Workspace, lead: Lead) -> SendRefused | None:
    if is_restricted(workspace=workspace, lead=lead):
        return SendRefused(
            SendRefused.RESTRICTED,
            _("Processing of this contact's data is restricted (a privacy request): no sends."),
        )
    return None


def _outside_window(workspace: Workspace, target: _Target) -> SendRefused | None:
    if window_open(target.conversation):
        return None
    names = approved_template_names(workspace=workspace, channel=target.channel)
    return SendRefused(
        SendRefused.OUTSIDE_WINDOW,
        _(
            "More than 24 hours have passed since this contact last wrote (or they never "
            "have): only approved templates can be sent until they reply."
        ),
        templates=names,
    )


def _template_for(
    *, target: _Target, name: str, language: str, variables: list[str]
) -> MessageTemplate:
    """The approved template to send, or a ValidationError naming what is wrong."""
    candidates = list(
        MessageTemplate.objects.filter(channel=target.channel, name=name).exclude(status="DELETED")
    )
    if not candidates:
        raise ValidationError({"template": [_("This channel has no template with that name.")]})
    template = next((t for t in candidates if t.language == language), None)
    if template is None:
        languages = ", ".join(sorted(t.language for t in candidates))
        raise ValidationError(
            {"language": [_("Not in this language. Available: %(l)s.") % {"l": languages}]}
        )
    if template.status != APPROVED:
        raise ValidationError(
            {
                "template": [
                    _("This template is %(s)s; only approved templates can be sent.")
                    % {"s": template.status.lower() or "not approved"}
                ]
            }
        )
    if len(variables) != template.parameter_count:
        raise ValidationError(
            {
                "variables": [
                    _("This template needs %(n)s variable(s); got %(m)s.")
                    % {"n": template.parameter_count, "m": len(variables)}
                ]
            }
        )
    return template


# Recording --------------------------------------------------------------------------------


def _conversation(*, workspace: Workspace, target: _Target) -> Conversation:
    if target.conversation is not None:
        return target.conversation
    try:
        with transaction.atomic():
            return Conversation.objects.create(
                workspace=workspace, lead=target.lead, channel=target.channel
            )
    except IntegrityError:
        # Created by a concurrent send or inbound message a moment ago.
        return Conversation.objects.get(lead=target.lead, channel=target.channel)


def _enqueue(message_id: uuid.UUID) -> None:
    from heroshhi.messaging.tasks import deliver_message

    deliver_message.delay(str(message_id))


def _record(
    *,
    workspace: Workspace,
    actor: Actor,
    target: _Target,
    kind: str,
    body: str,
    payload: dict[str, Any],
    template_name: str | None = None,
) -> Message:
    now = timezone.now()
    conversation = _conversation(workspace=workspace, target=target)
    message = Message.objects.create(
        workspace=workspace,
        conversation=conversation,
        lead=target.lead,
        direction=Message.Direction.OUTBOUND,
        kind=kind,
        body=body,
        payload=payload,
        status=Message.Status.PENDING,
        sent_by_id=actor.id if actor.type == ActorType.USER else None,
        actor_type=actor.type.value,
        created_at=now,
    )
    conversation.last_message_at = now
    conversation.save(update_fields=["last_message_at"])
    Lead.objects.filter(pk=target.lead.pk).update(last_activity_at=now)
    TimelineEvent.objects.create(
        workspace=workspace,
        lead=target.lead,
        kind=TimelineEvent.Kind.MESSAGE_OUT,
        actor_type=actor.type.value,
        actor_id=actor.id or "",
        data={"message": str(message.pk), "kind": kind},
    )
    metadata: dict[str, object] = {
        "message": str(message.pk),
        "kind": kind,
        "channel": str(target.channel.pk),
    }
    # A template name is the business's label, but one full of digits would trip the audit
    # log's personal-data check; the message id still leads to it.
    if template_name and looks_personal(template_name) is None:
        metadata["template"] = template_name
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.MESSAGE_SENT,
        target=("lead", target.lead.pk),
        metadata=metadata,
    )
    transaction.on_commit(lambda: _enqueue(message.pk))
    return message


def _refused(*, workspace: Workspace, actor: Actor, lead: Lead, kind: str, code: str) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.MESSAGE_REFUSED,
        outcome=Outcome.DENIED,
        target=("lead", lead.pk),
        reason=code,
        metadata={"kind": kind},
    )


# Sending ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Draft:
    body: str
    payload: dict[str, Any]
    template_name: str | None = None


def _attempt(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    channel: Channel | None,
    kind: str,
    prepare: Callable[[_Target], _Draft],
) -> Message:
    """Check every rule and record the send, or audit the refusal and raise it.

    ``prepare`` applies the kind's own rule (the window, the template) and returns what to
    record; it raises SendRefused or, for a template that does not fit, ValidationError.
    """
    failure: SendRefused | ValidationError | None = None
    with transaction.atomic(), workspace_scope(workspace):
        target = _target(workspace=workspace, actor=actor, lead=lead, channel=channel)
        try:
            suspended = _workspace_inactive(workspace)
            if suspended is not None:
                raise suspended
            if isinstance(target, SendRefused):
                raise target
            refusal = _opted_out(workspace, lead) or _restricted(workspace, lead)
            if refusal is not None:
                raise refusal
            draft = prepare(target)
        except (SendRefused, ValidationError) as exc:
            failure = exc
            code = exc.code if isinstance(exc, SendRefused) else SendRefused.TEMPLATE_INVALID
            # Committed with this block, before the refusal is raised to the caller.
            _refused(workspace=workspace, actor=actor, lead=lead, kind=kind, code=code)
        else:
            message = _record(
                workspace=workspace,
                actor=actor,
                target=target,
                kind=kind,
                body=draft.body,
                payload=draft.payload,
                template_name=draft.template_name,
            )
    if failure is not None:
        raise failure
    return message


def send_text(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    text: str,
    quick_replies: list[str] | None = None,
    channel: Channel | None = None,
) -> Message:
    """A free-form reply (with up to three reply buttons), inside the 24-hour window only."""
    titles = _clean_quick_replies(quick_replies)
    body = _clean_text(text, limit=INTERACTIVE_TEXT_MAX if titles else TEXT_MAX)

    def prepare(target: _Target) -> _Draft:
        refusal = _outside_window(workspace, target)
        if refusal is not None:
            raise refusal
        return _Draft(body=body, payload={"quick_replies": titles} if titles else {})

    return _attempt(
        workspace=workspace,
        actor=actor,
        lead=lead,
        channel=channel,
        kind=Message.Kind.INTERACTIVE if titles else Message.Kind.TEXT,
        prepare=prepare,
    )


def send_template(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    template_name: str,
    language: str,
    variables: list[Any],
    channel: Channel | None = None,
) -> Message:
    """An approved template; allowed outside the window too."""
    name, lang = str(template_name or "").strip(), str(language or "").strip()
    values = _clean_variables(variables)

    def prepare(target: _Target) -> _Draft:
        template = _template_for(target=target, name=name, language=lang, variables=values)
        placeholders = template_placeholders(template.body)
        payload: dict[str, Any] = {
            "template": template.name,
            "language": template.language,
            "variables": values,
        }
        if any(not key.isdigit() for key in placeholders):
            payload["parameter_names"] = placeholders
        return _Draft(
            body=render_template(template.body, values),
            payload=payload,
            template_name=template.name,
        )

    return _attempt(
        workspace=workspace,
        actor=actor,
        lead=lead,
        channel=channel,
        kind=Message.Kind.TEMPLATE,
        prepare=prepare,
    )


def send_confirmation(*, workspace: Workspace, conversation: Conversation, text: str) -> Message:
    """The system's short reply to an opt-out or opt-in keyword.

    The one send that skips the opt-out check (the contact must hear that the stop
    worked); the window still applies, and the delivery task knows not to re-check.
    """
    actor = Actor.system()
    body = _clean_text(text, limit=TEXT_MAX)
    with transaction.atomic(), workspace_scope(workspace):
        conversation = Conversation.objects.select_related("lead", "channel").get(
            pk=conversation.pk
        )
        suspended = _workspace_inactive(workspace)
        if suspended is not None:
            raise suspended
        if conversation.channel.deleted_at is not None:
            raise SendRefused(SendRefused.NO_CHANNEL, _("The channel was removed."))
        if not window_open(conversation):
            raise SendRefused(SendRefused.OUTSIDE_WINDOW, _("The 24-hour window is closed."))
        restricted = _restricted(workspace, conversation.lead)
        if restricted is not None:
            raise restricted
        if not _addressable(lead=conversation.lead, conversation=conversation):
            raise ValidationError({"lead": [_("This contact cannot be addressed.")]})
        target = _Target(
            lead=conversation.lead, channel=conversation.channel, conversation=conversation
        )
        return _record(
            workspace=workspace,
            actor=actor,
            target=target,
            kind=Message.Kind.TEXT,
            body=body,
            payload={"confirmation": True},
        )
