"""A workspace is one subscribing business: the unit of tenancy, keys and audit chains."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from heroshhi.core.crypto.blind_indexes import BlindIndexField
from heroshhi.core.crypto.fields import EncryptedTextField
from heroshhi.core.tenancy import WorkspaceOwned
from heroshhi.workspaces.permissions import Role


class Workspace(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        TERMINATING = "terminating", _("Terminating")
        # Its data is deleted and its keys destroyed; the row stays as a tombstone because
        # the opt-out ledger and the audit events still refer to it.
        TERMINATED = "terminated", _("Terminated")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    plan = models.CharField(max_length=30, default="trial")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # Set by the owner: every member must use two-factor sign-in to enter the workspace.
    require_two_factor = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the owner asked for termination: the data is deleted 30 days later unless the
    # owner cancels first (heroshhi/workspaces/termination.py).
    termination_requested_at = models.DateTimeField(null=True, blank=True)
    # When that deletion finished.
    terminated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.slug


class Membership(WorkspaceOwned):
    """A user's seat in one workspace, with one role there."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=[(r.value, r.value) for r in Role])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.workspace_id}:{self.role}"


class Invitation(WorkspaceOwned):
    """An offer of a seat in the workspace, sent to one e-mail address.

    The address is personal data, so it is stored encrypted with a blind index for the
    "already invited?" lookup. The link carries a single-use random token; only its
    SHA-256 is stored, so a database reader cannot accept anyone's invitation.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        EXPIRED = "expired", _("Expired")
        ACCEPTED = "accepted", _("Accepted")
        REVOKED = "revoked", _("Revoked")

    email = EncryptedTextField()
    email_bidx = BlindIndexField()
    role = models.CharField(max_length=20, choices=[(r.value, r.value) for r in Role])
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return str(self.pk)

    def status_at(self, now: datetime) -> Invitation.Status:
        if self.accepted_at is not None:
            return self.Status.ACCEPTED
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if self.expires_at <= now:
            return self.Status.EXPIRED
        return self.Status.PENDING


class WorkspaceExport(WorkspaceOwned):
    """One run of the owner's whole-workspace export (P04, P19): a zip built by a job.

    The file lives under ``VAR_DIR/exports/`` at a path derived from the ids (never stored,
    so no row can point the download elsewhere) and is deleted when it expires.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Preparing")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # Progress: rows written out of the rows counted when the run started.
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    # Rows per file of the zip, once it is ready.
    counts = models.JSONField(default=dict, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    downloads = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at"], name="workspace_export_recent"),
            models.Index(fields=["status", "expires_at"], name="workspace_export_expiry"),
        ]

    def __str__(self) -> str:
        return str(self.pk)

    @property
    def percent(self) -> int:
        if self.status == self.Status.READY:
            return 100
        return min(99, self.rows_done * 100 // self.rows_total) if self.rows_total else 0
