"""Platform plumbing that belongs to no workspace."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """Last time a background component proved it was alive (beat tick, worker ping)."""

    name = models.CharField(max_length=80, unique=True)
    at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
