"""Channels, conversations with leads, their messages, templates, calls and the opt-out ledger.

Content (message text, media metadata, call notes, numbers) is encrypted; provider ids
(wamid, wacid) and statuses are not personal data and stay queryable.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import F, OrderBy
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from heroshhi.core.crypto import BlindIndexField, EncryptedJSONField, EncryptedTextField
from heroshhi.core.tenancy import WorkspaceOwned

SERVICE_WINDOW_HOURS = 24


class Channel(WorkspaceOwned):
    """One number (or account) a workspace talks to contacts on, whatever its provider.

    What a kind needs beyond this (ids at the provider, encrypted tokens, its checks) is the
    kind's own one-to-one row, e.g. ``whatsapp.WhatsAppChannel``; the primary key is shared,
    so a channel's public id is the same in both and in its webhook URL.
    """

    # The registry key of the channel's transport (``messaging.channels``), e.g. "whatsapp".
    kind = models.CharField(max_length=20)
    label = models.CharField(max_length=60, blank=True)
    # The business's own number (not a contact's), shown in settings and the inbox.
    display_phone_number = models.CharField(max_length=20)
    # Messages per second the provider lets this number send.
    throughput_tier = models.PositiveIntegerField(default=80)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Removed channels stay for their conversations' history but take no traffic.
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"channel:{self.kind}:{self.pk}"


class Conversation(WorkspaceOwned):
    """A lead's thread on one channel. The 24-hour window is tracked here."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="conversations")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # WhatsApp's business-scoped user id (BSUID): some contacts share no phone number.
    wa_user_id = EncryptedTextField(null=True, blank=True)
    wa_user_bidx = BlindIndexField(null=True, blank=True, db_index=False)
    # The contact's last message (or call): the service window runs 24 h from it.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "lead", "channel"], name="messaging_conversation_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["workspace", "status", "-last_message_at"], name="messaging_conv_inbox"
            ),
            models.Index(fields=["workspace", "wa_user_bidx"], name="messaging_conv_wa_user"),
        ]

    def __str__(self) -> str:
        return f"conversation:{self.pk}"


class Message(WorkspaceOwned):
    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        TEMPLATE = "template", _("Template")
        INTERACTIVE = "interactive", _("Interactive")
        BUTTON = "button", _("Button")
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")
        AUDIO = "audio", _("Audio")
        DOCUMENT = "document", _("Document")
        STICKER = "sticker", _("Sticker")
        LOCATION = "location", _("Location")
        CONTACTS = "contacts", _("Contacts")
        REACTION = "reaction", _("Reaction")
        SYSTEM = "system", _("System")
        UNSUPPORTED = "unsupported", _("Unsupported")

    class Status(models.TextChoices):
        # Outbound life: pending → sent → delivered → read; failed is terminal.
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")
        # Inbound messages are simply received.
        RECEIVED = "received", _("Received")

    # No single-column indexes on these two: the thread and lead indexes below lead with
    # them, and every inbound message would otherwise update two more indexes.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # Text, caption or the rendered template body.
    body = EncryptedTextField(null=True, blank=True)
    # Type-specific content: template name/variables, media ids, location, button payload,
    # click-to-WhatsApp referral. Encrypted because all of it can describe the person.
    payload = EncryptedJSONField(null=True, blank=True)
    # The provider's id (wamid). Unique per channel once known; pending sends have none yet.
    # NULL rather than "" so the unique constraint below skips sends not yet accepted.
    provider_message_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=10, choices=Status.choices)
    # Failure: provider code, a readable reason of ours, and whether a retry can help.
    error_code = models.PositiveIntegerField(null=True, blank=True)
    error_reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_type = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # When the provider says it happened (inbound: the contact's send time).
    provider_timestamp = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider_message_id"],
                condition=models.Q(provider_message_id__isnull=False),
                name="messaging_message_provider_id_once",
            )
        ]
        # In the order the messages were said (``said_at``), ties by arrival.
        indexes = [
            models.Index(
                F("conversation"),
                Coalesce("provider_timestamp", "created_at"),
                F("created_at"),
                name="messaging_message_said_thread",
            ),
            models.Index(
                F("lead"),
                Coalesce("provider_timestamp", "created_at"),
                F("created_at"),
                name="messaging_message_said_lead",
            ),
        ]

    def __str__(self) -> str:
        return f"message:{self.pk}"

    @property
    def said_at(self) -> datetime:
        """When it was said: the provider's time for an inbound message (the contact's
        send time, so a late delivery takes its place), ours for what we send."""
        return self.provider_timestamp or self.created_at


def said_at() -> Coalesce:
    """``Message.said_at`` in SQL, for ordering and paging (the indexes above use it)."""
    return Coalesce("provider_timestamp", "created_at")


class MessageTemplate(WorkspaceOwned):
    """An approved-or-not template as synced from the channel's provider account."""

    class Category(models.TextChoices):
        MARKETING = "MARKETING", _("Marketing")
        UTILITY = "UTILITY", _("Utility")
        AUTHENTICATION = "AUTHENTICATION", _("Authentication")

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="templates")
    provider_template_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    category = models.CharField(max_length=20)
    status = models.CharField(max_length=20)
    # The business's own wording with {{1}}-style placeholders: not personal data.
    body = models.TextField(blank=True)
    parameter_count = models.PositiveSmallIntegerField(default=0)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "name", "language"],
                name="messaging_template_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}/{self.language}"


class OptOutRecord(WorkspaceOwned):
    """The append-only opt-out ledger (P18, P20, P21).

    Keyed by the workspace and the phone's blind index (or the WhatsApp user id's, for a
    contact without a visible number), never by a lead, so it outlives every lead. The record
    with the latest moment of action (``newest_first``) is the contact's state, so a webhook
    that arrives late lands in its place in the history instead of overriding what came after
    it. Rows are never updated, deleted or purged.
    """

    class Status(models.TextChoices):
        OPTED_OUT = "opted_out", _("Opted out")
        OPTED_IN = "opted_in", _("Opted in")

    class Method(models.TextChoices):
        KEYWORD = "keyword", _("Keyword reply")
        WHATSAPP = "whatsapp", _("WhatsApp preference")
        MANUAL = "manual", _("Marked by staff")
        API = "api", _("API")

    phone_bidx = BlindIndexField(null=True, blank=True, db_index=False)
    wa_user_bidx = BlindIndexField(null=True, blank=True, db_index=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    method = models.CharField(max_length=10, choices=Method.choices)
    # The normalised keyword that triggered it ("stop", "band karo"), or a provider signal
    # such as "user_preferences:stop" / "error:131050". Never the whole message.
    trigger = models.CharField(max_length=60, blank=True)
    # For a keyword reply, the matcher rule that decided ("exact", "filler+tail"): a short
    # code from the matcher, never message text, so a disputed opt-out can be explained.
    rule = models.CharField(max_length=40, blank=True)
    channel_id_ref = models.UUIDField(null=True, blank=True)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64, blank=True)
    # Idempotency for provider-driven records (a wamid, or a digest of a preference event),
    # so a webhook delivered twice writes one record. Empty for staff and API records.
    event_key = models.CharField(max_length=128, blank=True)
    # When the contact, staff member or API client acted, in whole seconds (the provider's
    # resolution); records written before this column existed fall back to created_at.
    occurred_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Tie-breaker for records of the same second: the one processed last wins.
    seq = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "phone_bidx", "-created_at"], name="optout_phone"),
            models.Index(fields=["workspace", "wa_user_bidx", "-created_at"], name="optout_user"),
            # The ledger page and GET /opt-outs walk a workspace's records newest first.
            models.Index(fields=["workspace", "-created_at", "-seq", "-id"], name="optout_recent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "event_key"],
                condition=~models.Q(event_key=""),
                name="optout_event_once",
            )
        ]

    def __str__(self) -> str:
        return f"optout:{self.pk}"

    @staticmethod
    def newest_first() -> tuple[OrderBy, OrderBy]:
        """The state order: by when the contact acted, then by processing order."""
        return Coalesce("occurred_at", "created_at").desc(), F("seq").desc()

    @property
    def by_contact(self) -> bool:
        """The contact acted (a keyword, a WhatsApp preference or signal), not staff or API."""
        return self.method in {self.Method.KEYWORD, self.Method.WHATSAPP}

    @property
    def state_key(self) -> tuple[datetime, int]:
        """This record's place in ``newest_first`` (greater is newer)."""
        return self.occurred_at or self.created_at, self.seq

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise ValueError("opt-out ledger records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("opt-out ledger records are never deleted")


class MessagingSettings(WorkspaceOwned):
    """Per-workspace additions to the opt-out and re-subscribe keyword lists, and replies."""

    extra_optout_keywords = models.JSONField(default=list, blank=True)
    extra_optin_keywords = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="messaging_settings_once")
        ]

    def __str__(self) -> str:
        return f"messaging-settings:{self.workspace_id}"


class Call(WorkspaceOwned):
    """A phone or WhatsApp call with a lead, logged by hand, by API or from Calling webhooks."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    class Outcome(models.TextChoices):
        CONNECTED = "connected", _("Connected")
        NO_ANSWER = "no_answer", _("No answer")
        BUSY = "busy", _("Busy")
        FAILED = "failed", _("Failed")
        VOICEMAIL = "voicemail", _("Voicemail")
        # A WhatsApp call that has connected and not yet ended.
        IN_PROGRESS = "in_progress", _("In progress")

    class Via(models.TextChoices):
        PHONE = "phone", _("Phone")
        WHATSAPP = "whatsapp", _("WhatsApp")

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="calls")
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.PHONE)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    from_number = EncryptedTextField(null=True, blank=True)
    to_number = EncryptedTextField(null=True, blank=True)
    started_at = models.DateTimeField()
    duration_seconds = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    notes = EncryptedTextField(null=True, blank=True)
    recording_url = EncryptedTextField(null=True, blank=True)
    # NULL for calls logged by hand, which the unique constraint below skips.
    provider_call_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "provider_call_id"],
                condition=models.Q(provider_call_id__isnull=False),
                name="messaging_call_provider_id_once",
            )
        ]
        indexes = [models.Index(fields=["lead", "started_at"], name="messaging_call_lead")]

    def __str__(self) -> str:
        return f"call:{self.pk}"
