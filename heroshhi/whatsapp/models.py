"""WhatsApp Cloud API numbers' own settings and the raw webhook inbox.

The inbox, not the broker, is the source of truth for webhook deliveries: a POST is stored
before it is acknowledged, and a sweeper re-queues whatever a worker did not finish.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from heroshhi.core.crypto import EncryptedTextField
from heroshhi.core.tenancy import WorkspaceOwned

# ``messaging.Channel.kind`` of WhatsApp numbers, and the key of their transport.
KIND = "whatsapp"


class WhatsAppChannel(WorkspaceOwned):
    """What a WhatsApp Business number needs beyond its ``messaging.Channel``: Meta's ids,
    the encrypted secrets (never shown) and the last connection check.

    Its primary key is the channel's, so the id in the webhook URL names both. The
    workspace is kept here too: the scoped manager and the secrets' encryption need it.
    """

    class Tier(models.IntegerChoices):
        STANDARD = 80, _("80 messages per second")
        HIGH = 1000, _("1,000 messages per second")

    id = None  # type: ignore[assignment]  # the channel's id is the primary key
    channel = models.OneToOneField(
        "messaging.Channel", on_delete=models.CASCADE, primary_key=True, related_name="whatsapp"
    )
    phone_number_id = models.CharField(max_length=32)
    waba_id = models.CharField(max_length=32)
    access_token = EncryptedTextField()
    app_secret = EncryptedTextField()
    verify_token = EncryptedTextField()
    # False once the channel is removed. The channel's ``deleted_at`` says the same, but a
    # unique constraint sees only this table's columns.
    live = models.BooleanField(default=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True)
    # A readable reason for the last failed check (an error code and title, no secrets).
    last_check_error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            # A number belongs to one live channel anywhere: webhooks route by it.
            models.UniqueConstraint(
                fields=["phone_number_id"],
                condition=models.Q(live=True),
                name="whatsapp_channel_live_number",
            )
        ]

    def __str__(self) -> str:
        return f"whatsapp:{self.phone_number_id}"

    @property
    def tier_label(self) -> str:
        """The channel's throughput tier as Meta names it."""
        tier = self.channel.throughput_tier
        return str(self.Tier(tier).label) if tier in self.Tier.values else str(tier)


class WebhookDelivery(WorkspaceOwned):
    """One signed POST from Meta to a channel's webhook URL, kept until fully processed."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        # Valid signature, but not something we can read (bad JSON, wrong object, …).
        UNPROCESSABLE = "unprocessable", _("Unprocessable")

    channel = models.ForeignKey(WhatsAppChannel, on_delete=models.CASCADE, related_name="+")
    # The raw body: it holds names, numbers and message text, so it is encrypted.
    body = EncryptedTextField()
    body_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=15, choices=Status.choices, default=Status.RECEIVED)
    # Reason code for an unprocessable delivery or the last failed attempt; never content.
    error = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Counts per item kind ("messages", "statuses", "unknown_status", …) for ops and tests.
    summary = models.JSONField(default=dict, blank=True)
    # Blind indexes of the contacts the body names, " "-separated and -enclosed, set when it
    # is processed: erasing a person removes the bodies about them before they are pruned.
    contact_keys = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    queued_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "queued_at"], name="whatsapp_delivery_pending"),
        ]

    def __str__(self) -> str:
        return f"delivery:{self.pk}"


class FailedInboundItem(WorkspaceOwned):
    """One item of an inbound delivery set aside while its neighbours were stored: what it
    was, where it sits in the body, why, and whether it has been replayed since.

    It keeps no content: the item itself stays only in its delivery's encrypted body, kept
    while the item is pending (``inbox.KEEP_UNPROCESSABLE`` at most) and removed with it by
    an erasure; once the body is gone the item can no longer be replayed. Every later
    inbound source keeps a table of this shape beside its own inbox (docs/adr/0017).
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for replay")
        REPLAYED = "replayed", _("Replayed")

    channel = models.ForeignKey(WhatsAppChannel, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(
        WebhookDelivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The item's JSON path in the delivery's body, e.g. "entry[0].changes[0].messages[1]".
    path = models.CharField(max_length=120)
    # The list the item came from ("messages", "statuses", "calls", …) or "change".
    kind = models.CharField(max_length=40)
    # A code such as "too_long:id" or "store_failed:DataError"; never a value.
    reason = models.CharField(max_length=100)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    replay_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Processing a delivery again must not record its failed items twice.
            models.UniqueConstraint(
                fields=["workspace", "delivery", "path"], name="whatsapp_failed_item_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["workspace", "state", "-created_at"], name="whatsapp_failed_item_list"
            )
        ]

    def __str__(self) -> str:
        return f"failed_item:{self.pk}"

    @property
    def replayable(self) -> bool:
        return self.state == self.State.PENDING and self.delivery_id is not None
