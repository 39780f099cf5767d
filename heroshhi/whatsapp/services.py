"""Every write to WhatsApp channels: connect, remove, check (= sync templates).

A WhatsApp channel is a ``messaging.Channel`` (kind "whatsapp": label, number, tier, removal)
and its ``WhatsAppChannel`` row (Meta's ids, the secrets, the last check), written together.
Each write that changes a channel drops the webhook acknowledgement's remembered copy of
it (``routing.channel_forget``) once it commits.

Channel secrets (access token, app secret, verify token) are encrypted at rest and never
leave this layer: nothing here returns, logs or audits them. Audit metadata holds the
channel's id and settings, not its number (digits look like a phone to the audit check).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.channels import transport_for
from heroshhi.messaging.errors import describe
from heroshhi.messaging.models import Channel, MessageTemplate
from heroshhi.messaging.optout import ContactKeys
from heroshhi.messaging.templates import template_placeholders
from heroshhi.messaging.transport import TransportError
from heroshhi.whatsapp import routing
from heroshhi.whatsapp.models import KIND, WebhookDelivery, WhatsAppChannel
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

logger = logging.getLogger(__name__)

_GRAPH_ID = re.compile(r"\d{5,32}")
# The business's own number as Meta shows it: digits, optionally "+", spaces and dashes.
_DISPLAY_NUMBER = re.compile(r"\+?[\d][\d\s-]{4,18}")
SECRET_MAX = 2048
LABEL_MAX = 60
# Statuses a template can have that we keep as the provider says; anything absent from a
# successful sync is marked DELETED so it can no longer be chosen.
DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class ChannelCheck:
    ok: bool
    templates: int
    error: str


def _role(actor: Actor) -> str:
    return actor.role or ""


def _clean_channel_input(
    *,
    phone_number_id: str,
    waba_id: str,
    display_phone_number: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    label: str,
    throughput_tier: int,
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, value in (("phone_number_id", phone_number_id), ("waba_id", waba_id)):
        text = str(value or "").strip()
        if not _GRAPH_ID.fullmatch(text):
            errors[field] = [_("Enter the numeric id shown in Meta's WhatsApp Manager.")]
        cleaned[field] = text
    display = " ".join(str(display_phone_number or "").split())
    if not _DISPLAY_NUMBER.fullmatch(display):
        errors["display_phone_number"] = [_("Enter the business number, e.g. +91 98765 43210.")]
    cleaned["display_phone_number"] = display
    for field, value in (
        ("access_token", access_token),
        ("app_secret", app_secret),
        ("verify_token", verify_token),
    ):
        text = str(value or "").strip()
        if not text:
            errors[field] = [_("This is required.")]
        elif len(text) > SECRET_MAX or any(ch.isspace() for ch in text):
            errors[field] = [_("This does not look like a valid value.")]
        cleaned[field] = text
    cleaned["label"] = " ".join(str(label or "").split())
    if len(cleaned["label"]) > LABEL_MAX:
        errors["label"] = [_("Keep the label under %(n)s characters.") % {"n": LABEL_MAX}]
    if throughput_tier not in WhatsAppChannel.Tier.values:
        errors["throughput_tier"] = [_("Choose 80 or 1000 messages per second.")]
    cleaned["throughput_tier"] = throughput_tier
    if errors:
        raise ValidationError(errors)
    return cleaned


def _number_taken_error() -> ValidationError:
    return ValidationError(
        {
            "phone_number_id": [
                _("This WhatsApp number is already connected. Remove it there first.")
            ]
        }
    )


def channel_create(
    *,
    workspace: Workspace,
    actor: Actor,
    phone_number_id: str,
    waba_id: str,
    display_phone_number: str,
    access_token: str,
    app_secret: str,
    verify_token: str,
    label: str = "",
    throughput_tier: int = WhatsAppChannel.Tier.STANDARD,
) -> WhatsAppChannel:
    """Connect a Cloud API number. A number can be live in one workspace only, because
    webhooks are routed by it."""
    require_capability(_role(actor), Capability.CHANNELS_MANAGE)
    fields = _clean_channel_input(
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        display_phone_number=display_phone_number,
        access_token=access_token,
        app_secret=app_secret,
        verify_token=verify_token,
        label=label,
        throughput_tier=throughput_tier,
    )
    # Across every workspace on purpose: the unique constraint is global too.
    taken = WhatsAppChannel.objects.unscoped().filter(
        phone_number_id=fields["phone_number_id"], live=True
    )
    if taken.exists():
        raise _number_taken_error()
    try:
        with transaction.atomic(), workspace_scope(workspace):
            channel = Channel.objects.create(
                workspace=workspace,
                kind=KIND,
                label=fields.pop("label"),
                display_phone_number=fields.pop("display_phone_number"),
                throughput_tier=fields.pop("throughput_tier"),
            )
            details = WhatsAppChannel.objects.create(workspace=workspace, channel=channel, **fields)
            audit_record(
                workspace=workspace,
                actor=actor,
                action=AuditAction.CHANNEL_CREATED,
                target=("whatsapp_channel", channel.pk),
                metadata={
                    "throughput_tier": channel.throughput_tier,
                    "labelled": bool(channel.label),
                },
            )
    except IntegrityError:
        # Another request connected the same number between our check and the insert.
        raise _number_taken_error() from None
    return details


@transaction.atomic
def channel_delete(*, workspace: Workspace, actor: Actor, channel: WhatsAppChannel) -> None:
    """Stop using a channel. It stays for its conversations' history, takes no traffic, and
    its number can be connected again."""
    require_capability(_role(actor), Capability.CHANNELS_MANAGE)
    with workspace_scope(workspace):
        channel = (
            WhatsAppChannel.objects.select_for_update().select_related("channel").get(pk=channel.pk)
        )
        if channel.channel.deleted_at is not None:
            return
        channel.channel.deleted_at = timezone.now()
        channel.channel.save(update_fields=["deleted_at"])
        channel.live = False
        channel.save(update_fields=["live"])
        transaction.on_commit(lambda: routing.channel_forget(channel.pk))
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.CHANNEL_DELETED,
            target=("whatsapp_channel", channel.pk),
            metadata={"mode": "soft"},
        )


def _body_text(components: object) -> str:
    if not isinstance(components, list):
        return ""
    for component in components:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            text = component.get("text")
            return text if isinstance(text, str) else ""
    return ""


def _template_fields(item: dict[str, Any]) -> dict[str, Any] | None:
    """What we keep of one provider template, or None for an entry we cannot use."""
    name, language = item.get("name"), item.get("language")
    if not isinstance(name, str) or not isinstance(language, str) or not name or not language:
        return None
    body = _body_text(item.get("components"))
    return {
        "name": name[:512],
        "language": language[:15],
        "category": str(item.get("category") or "")[:20],
        "status": str(item.get("status") or "")[:20],
        "provider_template_id": str(item.get("id") or "")[:64],
        "body": body,
        "parameter_count": len(template_placeholders(body)),
    }


def _sync_templates(*, workspace: Workspace, channel: Channel, items: list[dict[str, Any]]) -> int:
    now = timezone.now()
    seen: set[tuple[str, str]] = set()
    for item in items:
        fields = _template_fields(item)
        if fields is None:
            continue
        key = (fields.pop("name"), fields.pop("language"))
        seen.add(key)
        MessageTemplate.objects.update_or_create(
            workspace=workspace,
            channel=channel,
            name=key[0],
            language=key[1],
            defaults={**fields, "synced_at": now},
        )
    for template in MessageTemplate.objects.filter(channel=channel).exclude(status=DELETED):
        if (template.name, template.language) not in seen:
            template.status = DELETED
            template.synced_at = now
            template.save(update_fields=["status", "synced_at"])
    return len(seen)


def channel_check(*, workspace: Workspace, actor: Actor, channel: WhatsAppChannel) -> ChannelCheck:
    """Check the connection by listing the account's templates, and sync them.

    The provider call happens outside any transaction; the result (templates, the check's
    outcome) is written in one.
    """
    require_capability(_role(actor), Capability.CHANNELS_MANAGE)
    error = ""
    items: list[dict[str, Any]] = []
    try:
        items = transport_for(channel.channel).fetch_templates(channel.channel)
    except TransportError as exc:
        info = describe(exc.code)
        error = f"{exc.code}: {info.reason}" if exc.code is not None else f"{exc.title}"
        error = error[:200]
    with transaction.atomic(), workspace_scope(workspace):
        channel = (
            WhatsAppChannel.objects.select_for_update().select_related("channel").get(pk=channel.pk)
        )
        count = (
            0
            if error
            else _sync_templates(workspace=workspace, channel=channel.channel, items=items)
        )
        channel.last_checked_at = timezone.now()
        channel.last_check_ok = not error
        channel.last_check_error = error
        channel.save(update_fields=["last_checked_at", "last_check_ok", "last_check_error"])
        transaction.on_commit(lambda: routing.channel_forget(channel.pk))
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.TEMPLATES_SYNCED,
            outcome=Outcome.FAILURE if error else Outcome.SUCCESS,
            target=("whatsapp_channel", channel.pk),
            reason="provider_error" if error else "",
            metadata={"templates": count},
        )
    return ChannelCheck(ok=not error, templates=count, error=error)


def webhook_url(request_or_base: HttpRequest | str, channel: WhatsAppChannel | Channel) -> str:
    """The absolute callback URL to paste into Meta's App Dashboard for this channel."""
    path = reverse("whatsapp_webhooks:receive", kwargs={"channel_id": channel.pk})
    if isinstance(request_or_base, str):
        return request_or_base.rstrip("/") + path
    return request_or_base.build_absolute_uri(path)


def webhook_deliveries_forget_contact(*, workspace: Workspace, keys: ContactKeys) -> int:
    """Delete the stored webhook bodies that name this contact (for an erasure); the number
    deleted. Their content was copied where it belongs when they were processed, and they
    would otherwise keep the person's number, name and words until pruned."""
    condition = Q(pk__in=[])
    for key in (keys.phone_bidx, keys.wa_user_bidx):
        if key:
            condition |= Q(contact_keys__contains=f" {key} ")
    with workspace_scope(workspace):
        deleted, _per_model = WebhookDelivery.objects.filter(condition).delete()
    return deleted
