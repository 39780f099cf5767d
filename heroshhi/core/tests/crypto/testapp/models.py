"""Test-only models that exercise every kind of encrypted field."""

from __future__ import annotations

import uuid

from django.db import models

from heroshhi.core.crypto import BlindIndexField, EncryptedJSONField, EncryptedTextField
from heroshhi.core.tenancy import WorkspaceOwned


class SecretNote(WorkspaceOwned):
    """A tenant row: encrypted text and JSON, plus the blind index of a phone number."""

    subject = EncryptedTextField(null=True, blank=True)
    body = EncryptedTextField(null=True, blank=True)
    payload = EncryptedJSONField(null=True, blank=True)
    phone_bidx = BlindIndexField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "crypto_testapp"

    def __str__(self) -> str:
        return str(self.pk)


class WorkspaceProfile(models.Model):
    """A row that shares its workspace's id, so the workspace is the row itself."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    billing_contact = EncryptedTextField(null=True, blank=True, workspace_field=None)

    class Meta:
        app_label = "crypto_testapp"

    def __str__(self) -> str:
        return str(self.pk)
