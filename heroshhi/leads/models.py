"""Leads, their pipeline stages, tags, notes and timeline.

Personal data (name, phone, e-mail, free text, note bodies) is encrypted per workspace;
equality lookups and dedupe go through blind indexes, never through the ciphertext.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from heroshhi.core.crypto import BlindIndexField, EncryptedJSONField, EncryptedTextField
from heroshhi.core.tenancy import WorkspaceOwned

TRASH_RETENTION_DAYS = 30


class Stage(WorkspaceOwned):
    class Kind(models.TextChoices):
        OPEN = "open", _("Open")
        WON = "won", _("Won")
        LOST = "lost", _("Lost")

    name = models.CharField(max_length=60)
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.OPEN)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="leads_stage_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(WorkspaceOwned):
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="leads_tag_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Source(models.TextChoices):
    MANUAL = "manual", _("Manual")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    WHATSAPP = "whatsapp", _("WhatsApp")
    FACEBOOK_ADS = "facebook_ads", _("Facebook ads")
    GOOGLE_ADS = "google_ads", _("Google ads")
    GOOGLE_SHEETS = "google_sheets", _("Google Sheets")
    WEBHOOK = "webhook", _("Webhook")


class Lead(WorkspaceOwned):
    name = EncryptedTextField(null=True, blank=True)
    phone = EncryptedTextField(null=True, blank=True)  # E.164
    email = EncryptedTextField(null=True, blank=True)
    description = EncryptedTextField(null=True, blank=True)
    # Indexed together with the workspace below, not on their own.
    phone_bidx = BlindIndexField(null=True, blank=True, db_index=False)
    email_bidx = BlindIndexField(null=True, blank=True, db_index=False)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.MANUAL)
    # Attribution ids only (campaign, form, UTM); services allow-list the keys.
    source_details = models.JSONField(default=dict, blank=True)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="leads")
    owner = models.ForeignKey(
        "workspaces.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="leads")
    deal_value = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Speed-to-lead alerts, each claimed once by a conditional UPDATE (leads/assignment.py).
    speed_alerted_at = models.DateTimeField(null=True, blank=True)
    speed_escalated_at = models.DateTimeField(null=True, blank=True)
    # Values of the workspace's custom fields, keyed by field key (leads/custom_fields.py).
    # Encrypted because they may be personal; NULL means none (rows older than the column).
    custom_values = EncryptedJSONField(null=True, blank=True)
    # The lead's tags by name, set on the rows of a list page (selectors.leads_list).
    listed_tags: list[Tag]

    class Meta:
        indexes = [
            # Keyset pagination of the live list and of the trash, newest first. Partial
            # indexes: PostgreSQL cannot read an index in order past a column tested with
            # IS NULL, so "deleted_at" must be the condition, not a column.
            models.Index(
                fields=["workspace", "-created_at", "-id"],
                condition=models.Q(deleted_at__isnull=True),
                name="leads_lead_live_keyset",
            ),
            models.Index(
                fields=["workspace", "-created_at", "-id"],
                condition=models.Q(deleted_at__isnull=False),
                name="leads_lead_trash_keyset",
            ),
            models.Index(fields=["workspace", "phone_bidx"], name="leads_lead_phone_bidx"),
            models.Index(fields=["workspace", "email_bidx"], name="leads_lead_email_bidx"),
            # A sales member's own leads in list order (and every lead of a member leaving).
            models.Index(
                fields=["workspace", "owner", "-created_at", "-id"], name="leads_lead_owner_keyset"
            ),
        ]
        constraints = [
            # Dedupe by phone stays exact under concurrent creates: of two transactions
            # inserting the same new number, the second waits for the first and fails, then
            # finds its lead (services/leads.py). Trashed leads may share a number.
            models.UniqueConstraint(
                fields=["workspace", "phone_bidx"],
                condition=models.Q(deleted_at__isnull=True),
                name="leads_lead_live_phone_unique",
            ),
        ]

    def __str__(self) -> str:
        # Never the name: this string ends up in logs and admin breadcrumbs.
        return str(self.pk)


class LeadNameToken(WorkspaceOwned):
    """One blind index per word of a lead's name, for word search over encrypted names."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="name_tokens")
    token = BlindIndexField(db_index=False)
    # The lead's created_at (which never changes), so that a word's leads can be read from
    # the index newest first, in list order, and a search page stops after its 50 rows.
    lead_created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "token", "-lead_created_at", "-lead"],
                name="leads_nametoken_newest",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "lead", "token"], name="leads_nametoken_unique"
            ),
        ]

    def __str__(self) -> str:
        return str(self.pk)


class Note(WorkspaceOwned):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        "workspaces.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return str(self.pk)


class TimelineEvent(WorkspaceOwned):
    """What happened to a lead. ``data`` holds field names and ids, never values."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")
        STAGE_CHANGED = "stage_changed", _("Stage changed")
        ASSIGNED = "assigned", _("Assigned")
        NOTE_ADDED = "note_added", _("Note added")
        ENQUIRED_AGAIN = "enquired_again", _("Enquired again")
        DELETED = "deleted", _("Moved to trash")
        RESTORED = "restored", _("Restored")
        TASK_ADDED = "task_added", _("Task added")
        TASK_DONE = "task_done", _("Task done")
        MERGED = "merged", _("Merged")
        MESSAGE_IN = "message_in", _("Message received")
        MESSAGE_OUT = "message_out", _("Message sent")
        CALL = "call", _("Call")
        OPTED_OUT = "opted_out", _("Opted out")
        OPTED_IN = "opted_in", _("Opted back in")

    # Indexed by leads_timeline_lead, which leads with it.
    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="timeline", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor_type = models.CharField(max_length=20)
    actor_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["lead", "created_at"], name="leads_timeline_lead")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.pk}"


class Task(WorkspaceOwned):
    """A follow-up on a lead. The title may name people, so it is encrypted."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    title = EncryptedTextField()
    due_at = models.DateTimeField()
    assignee = models.ForeignKey(
        "workspaces.Membership",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lead_tasks",
    )
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "workspaces.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["workspace", "assignee", "done_at", "due_at"], name="leads_task_mine"
            ),
            models.Index(fields=["lead", "due_at"], name="leads_task_lead"),
            # The reminder sweep: open, not yet reminded, by due time.
            models.Index(fields=["done_at", "reminded_at", "due_at"], name="leads_task_due"),
        ]

    def __str__(self) -> str:
        return str(self.pk)


class Notification(WorkspaceOwned):
    """An in-app notice for one member (a task reminder so far)."""

    class Kind(models.TextChoices):
        TASK_DUE = "task_due", _("Task due")
        SPEED_TO_LEAD = "speed_to_lead", _("New lead waiting")
        SPEED_TO_LEAD_ESCALATED = "speed_to_lead_escalated", _("New lead still waiting")

    recipient = models.ForeignKey(
        "workspaces.Membership", on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "recipient", "read_at"], name="leads_notif_unread"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.pk}"


class AssignmentSettings(WorkspaceOwned):
    """How new leads without an owner get one; one row per workspace (none when absent)."""

    class Mode(models.TextChoices):
        NONE = "none", _("Leave unassigned")
        ROUND_ROBIN = "round_robin", _("Round robin among sales members")
        BY_SOURCE = "by_source", _("By source, then round robin")

    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.NONE)
    sales_see_unassigned_pool = models.BooleanField(default=False)
    # How many turns round robin has handed out; the next turn is cursor % len(members).
    # On PostgreSQL the count lives in a sequence per workspace, started from this value
    # (leads/services/assignment.py), so that no create waits on this row.
    round_robin_cursor = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="leads_assignment_one_per_ws"),
        ]

    def __str__(self) -> str:
        return f"{self.mode}:{self.pk}"


class SourceAssignment(WorkspaceOwned):
    """New leads from ``source`` go to ``member`` (mode by_source)."""

    source = models.CharField(max_length=20, choices=Source.choices)
    member = models.ForeignKey("workspaces.Membership", on_delete=models.CASCADE, related_name="+")

    class Meta:
        ordering = ["source"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "source"], name="leads_source_assignment_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.pk}"


class LeadImport(WorkspaceOwned):
    """One CSV upload and its run. The file and the error report are personal data, so both
    are stored encrypted; counters and the mapping hold no values."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        MAPPED = "mapped", _("Mapped")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    created_by = models.ForeignKey(
        "workspaces.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    content = EncryptedTextField()
    # Column headings can name people ("Priya's list"), so they are encrypted too.
    headers = EncryptedTextField()
    # Column index (as text) → lead field name.
    mapping = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error_report = EncryptedTextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life (queued, or a batch saved): the sweeper re-queues or fails imports
    # that stop moving, because the database, not the broker, is the source of truth.
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.status}:{self.pk}"

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.failed


class CustomField(WorkspaceOwned):
    """A workspace-defined lead field. The key names the value in ``Lead.custom_values`` and
    never changes; removing a field archives it, so the values stay stored (hidden) and come
    back when it is restored, and the key can never be reused for a different kind."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Single choice")

    key = models.CharField(max_length=40)
    label = models.CharField(max_length=60)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The options of a choice field, in display order (empty for other kinds).
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="leads_customfield_key"),
        ]

    def __str__(self) -> str:
        return self.key


class ImportMapping(WorkspaceOwned):
    """A saved CSV column mapping: column heading → lead field. Headings and the name can
    name people, so both are encrypted; ``header_signature`` (a keyed hash of the set of
    headings) finds the mapping again when a file with the same headings is uploaded."""

    name = EncryptedTextField()
    # {"headers": [heading, ...], "targets": {heading: field}}
    mapping = EncryptedJSONField()
    header_signature = BlindIndexField(db_index=False)
    created_by = models.ForeignKey(
        "workspaces.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "header_signature"], name="leads_importmap_sig"),
        ]

    def __str__(self) -> str:
        return str(self.pk)
