"""Writes for platform plumbing."""

from __future__ import annotations

from django.utils import timezone

from heroshhi.core.models import Heartbeat


def heartbeat_record(*, name: str) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})
