"""Platform plumbing that belongs to no workspace."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time a background component proved it was alive (beat tick, worker ping)."""

    name = models.CharField(max_length=80, unique=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class WorkspaceKey(models.Model):
    """One version of a workspace's data or blind-index key, wrapped by a master key.

    Only ``heroshhi.core.crypto`` reads and writes these rows. Deleting a workspace's rows
    is crypto-shredding: its encrypted values can no longer be read anywhere, backups
    included.
    """

    class Purpose(models.TextChoices):
        DATA = "data", "data"
        INDEX = "index", "blind index"

    class State(models.TextChoices):
        ACTIVE = "active", "active"
        RETIRED = "retired", "retired"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    version = models.PositiveIntegerField()
    # Random and short because it travels in every ciphertext header.
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    master_key_id = models.CharField(max_length=32)
    wrapped = models.BinaryField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "purpose", "version"],
                name="core_workspacekey_one_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} key v{self.version} ({self.key_id})"
