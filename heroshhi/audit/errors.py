"""Errors raised by the audit log. Their messages never repeat the offending value."""

from __future__ import annotations


class AuditImmutableError(Exception):
    """An attempt to change or remove an audit record outside the retention purge."""


class AuditMetadataError(ValueError):
    """Audit input of the wrong shape: an unknown type, too deep, too large, a bad code."""


class AuditPersonalDataError(AuditMetadataError):
    """Audit input that looks like an e-mail address or a phone number."""
