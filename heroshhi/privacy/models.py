"""Data-subject requests about a workspace's contacts (P23), their deadlines and the
restriction flag.

A request outlives its subject: erasing a lead sets ``lead`` to NULL and the request keeps
``subject_ref`` (the lead's id, not personal data), its dates and a receipt of counts. What
the requester typed on the public form is personal data, so it is encrypted, and it is
wiped when their lead is erased.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from heroshhi.core.crypto import BlindIndexField, EncryptedTextField
from heroshhi.core.tenancy import WorkspaceOwned

# Unambiguous capitals and digits (no 0/O, 1/I/L) for a reference people read out.
_REFERENCE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 8


def new_reference() -> str:
    return "PR-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class WorkspaceHoliday(WorkspaceOwned):
    """A day the business is closed: it does not count towards a request's deadline."""

    date = models.DateField()
    name = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "date"], name="privacy_holiday_once"),
        ]

    def __str__(self) -> str:
        return f"{self.date}:{self.name}"


class PrivacyRequest(WorkspaceOwned):
    class Type(models.TextChoices):
        ACCESS = "access", _("Access")
        PORTABILITY = "portability", _("Portability")
        RECTIFICATION = "rectification", _("Rectification")
        ERASURE = "erasure", _("Erasure")
        RESTRICTION = "restriction", _("Restriction")
        OBJECTION = "objection", _("Objection")

    class Scope(models.TextChoices):
        MARKETING = "marketing", _("Marketing")
        ANALYTICS = "analytics", _("Analytics")

    class Channel(models.TextChoices):
        DASHBOARD = "dashboard", _("Dashboard")
        EMAIL = "email", _("E-mail")
        PUBLIC_FORM = "public_form", _("Public form")
        API = "api", _("API")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")
        REJECTED = "rejected", _("Rejected")

    reference = models.CharField(max_length=20, default=new_reference, editable=False)
    type = models.CharField(max_length=15, choices=Type.choices)
    # Objections only: what the person objects to.
    scope = models.CharField(max_length=10, choices=Scope.choices, blank=True)
    lead = models.ForeignKey(
        "leads.Lead",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="privacy_requests",
    )
    # The subject's lead id as text: stays after an erasure has removed the lead.
    subject_ref = models.CharField(max_length=36, blank=True)
    channel = models.CharField(max_length=12, choices=Channel.choices)
    # Who asked, as typed on the public form; matched to a lead by blind index.
    requester_name = EncryptedTextField(null=True, blank=True)
    requester_email = EncryptedTextField(null=True, blank=True)
    requester_phone = EncryptedTextField(null=True, blank=True)
    requester_message = EncryptedTextField(null=True, blank=True)
    requester_email_bidx = BlindIndexField(null=True, blank=True, db_index=False)
    requester_phone_bidx = BlindIndexField(null=True, blank=True, db_index=False)
    received_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    handler = models.ForeignKey(
        "workspaces.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by = models.ForeignKey(
        "workspaces.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The handler's notes (how identity was checked, what was sent): may name people.
    evidence = EncryptedTextField(null=True, blank=True)
    # Counts and ids only: export sizes, the erasure receipt, corrected field names.
    outcome = models.JSONField(default=dict, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The one export download link currently valid (a random nonce inside a signed token);
    # emptied when the link is used, so a link works once.
    download_nonce = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["workspace", "status", "due_at"], name="privacy_request_sla"),
            models.Index(fields=["workspace", "subject_ref"], name="privacy_request_subject"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "reference"], name="privacy_request_reference"
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_closed(self) -> bool:
        return self.status in (self.Status.COMPLETED, self.Status.REJECTED)


class LeadRestriction(WorkspaceOwned):
    """Privacy flags of one lead: restriction of processing and exclusion from analytics.

    Restricted means ``restricted_at`` is set and ``lifted_at`` is not; restricting again
    after a lift starts a new period (the audit log keeps the history).
    """

    lead = models.OneToOneField(
        "leads.Lead", on_delete=models.CASCADE, related_name="privacy_restriction"
    )
    restricted_at = models.DateTimeField(null=True, blank=True)
    restricted_by = models.ForeignKey(
        "workspaces.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        "workspaces.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # An objection to analytics: future aggregates leave this lead out.
    analytics_excluded = models.BooleanField(default=False)
    analytics_excluded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"restriction:{self.lead_id}"

    @property
    def is_restricted(self) -> bool:
        return self.restricted_at is not None and self.lifted_at is None


class PrivacyReminder(WorkspaceOwned):
    """An in-app reminder to an owner that a request is due soon or overdue; once per
    request, recipient and kind."""

    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", _("Due within one business day")
        OVERDUE = "overdue", _("Overdue")

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="+")
    recipient = models.ForeignKey(
        "workspaces.Membership", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "request", "recipient", "kind"],
                name="privacy_reminder_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["workspace", "recipient", "read_at"], name="privacy_reminder_unread"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.pk}"


# Retention ----------------------------------------------------------------------------------


class RetentionPolicy(WorkspaceOwned):
    """The owner's retention choices for leads and messages (P07). Empty means keep."""

    delete_messages_after_days = models.PositiveIntegerField(null=True, blank=True)
    trash_inactive_leads_after_months = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        "workspaces.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="privacy_retention_policy_once"),
        ]

    def __str__(self) -> str:
        return f"retention:{self.workspace_id}"

    @property
    def keeps_everything(self) -> bool:
        return (
            self.delete_messages_after_days is None
            and self.trash_inactive_leads_after_months is None
        )


class RetentionRun(models.Model):
    """One run of the retention engine over the platform (or one workspace): a platform
    record, with each touched workspace's counts in ``RetentionRunWorkspace``.

    ``holds_lock`` is True only on the run in progress; a unique constraint on it means two
    runs can never work at once (NULLs do not collide). A run whose heartbeat went quiet
    was interrupted: the next run takes the lock over and finishes the work.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        FINISHED = "finished", _("Finished")
        FINISHED_WITH_ERRORS = "errors", _("Finished with errors")
        INCOMPLETE = "incomplete", _("Stopped at its batch budget; the next run continues")
        INTERRUPTED = "interrupted", _("Interrupted; the next run continued")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Daily schedule")
        COMMAND = "command", _("Command")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    dry_run = models.BooleanField(default=False)
    # The --workspace filter (an id), empty for a run over every workspace.
    workspace_ref = models.CharField(max_length=36, blank=True)
    # The moment the rules measured ages from (tests move it; production: the start).
    as_of = models.DateTimeField()
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Per rule: {"counts": {table: n}, "duration_ms": n, "errors": n, "skipped": reason}.
    results = models.JSONField(default=dict, blank=True)
    # [{"rule", "workspace", "error"}]: ids and exception class names, never values.
    errors = models.JSONField(default=list, blank=True)
    holds_lock = models.BooleanField(null=True, default=None)
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(fields=["holds_lock"], name="privacy_retention_one_running"),
        ]

    def __str__(self) -> str:
        return f"retention-run:{self.pk}"

    def total(self, rule: str) -> int:
        counts = (self.results.get(rule) or {}).get("counts") or {}
        return sum(int(n) for n in counts.values())


class RetentionRunWorkspace(WorkspaceOwned):
    """What one run did in one workspace: the owner's view of the retention report."""

    run = models.ForeignKey(RetentionRun, on_delete=models.CASCADE, related_name="workspaces")
    # {rule: {table label: rows}}; a dry run's counts are what would have gone.
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["run", "workspace"], name="privacy_run_workspace_once"),
        ]

    def __str__(self) -> str:
        return f"retention-run:{self.run_id}:{self.workspace_id}"

    def total(self) -> int:
        return sum(int(n) for rule in self.counts.values() for n in rule.values())


# Consent ------------------------------------------------------------------------------------


class ConsentRecord(WorkspaceOwned):
    """An append-only record that a contact gave or withdrew consent (P09, P24).

    Consent is personal data about the lead, so it goes with the lead (CASCADE): erasure
    and the trash purge remove it. What must outlive the lead is the *refusal*, and that
    lives in the opt-out ledger, which a withdrawal always writes to. The latest record
    per purpose is the current state.
    """

    class Purpose(models.TextChoices):
        MARKETING = "marketing", _("Marketing messages")

    class Source(models.TextChoices):
        FORM = "form", _("Web form")
        AD = "ad", _("Ad lead form")
        IMPORT = "import", _("Import")
        CHAT = "chat", _("WhatsApp chat")
        MANUAL = "manual", _("Recorded by staff")
        API = "api", _("API")

    class Status(models.TextChoices):
        GRANTED = "granted", _("Granted")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="consent_records")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    # Which wording the person saw ("2026-02", "fb-form-v3"): a label, not the text.
    notice_version = models.CharField(max_length=40, blank=True)
    # When the person acted (an import may say "last March"); created_at is when we wrote it.
    given_at = models.DateTimeField(default=timezone.now)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["lead", "purpose", "-created_at"], name="privacy_consent_state"),
        ]

    def __str__(self) -> str:
        return f"consent:{self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("consent records are append-only")
        super().save(*args, **kwargs)


# Audit chain checks shown on the compliance page ----------------------------------------------


class ChainVerification(WorkspaceOwned):
    """The outcome of verifying the workspace's audit chain on demand."""

    verified_at = models.DateTimeField(default=timezone.now)
    ok = models.BooleanField()
    events_checked = models.PositiveIntegerField(default=0)
    problem = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["-verified_at"]

    def __str__(self) -> str:
        return f"chain-check:{self.pk}"


# Incidents (platform) -----------------------------------------------------------------------


def new_incident_reference() -> str:
    return "INC-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class Incident(models.Model):
    """A security incident or personal-data breach in the platform's register (P24, P28).

    Platform-level: staff record it and name the workspaces it touched; owners of those
    workspaces see it on their compliance page. The description may name systems or
    people, so it is sealed (AES-256-GCM under a master-derived key, bound to this row);
    the title is shown to owners and must stay free of personal data.
    """

    class Severity(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")
        CRITICAL = "critical", _("Critical")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CONTAINED = "contained", _("Contained")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(
        max_length=20, unique=True, default=new_incident_reference, editable=False
    )
    title = models.CharField(max_length=160)
    description_sealed = models.TextField(blank=True)
    detected_at = models.DateTimeField()
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    personal_data_involved = models.BooleanField(default=True)
    # The period in which data may have been exposed; bounds the affected-leads helper.
    exposure_start = models.DateTimeField(null=True, blank=True)
    exposure_end = models.DateTimeField(null=True, blank=True)
    affected_workspaces = models.ManyToManyField(
        "workspaces.Workspace", blank=True, related_name="+"
    )
    created_by_ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at"]

    def __str__(self) -> str:
        return self.reference


class IncidentNotice(models.Model):
    """One notice an incident calls for, with its clock and whether it went out."""

    class Kind(models.TextChoices):
        CERT_IN = "cert_in", _("CERT-In report")
        AUTHORITY = "authority", _("Data Protection Board / supervisory authority")
        CUSTOMERS = "customers", _("Affected businesses")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by_ref = models.CharField(max_length=64, blank=True)
    # Where it went and the ticket/acknowledgement number: no personal data.
    reference = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "kind"], name="privacy_notice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.incident_id}"
