"""Live evidence for the compliance page: each promise of the policy next to what the
system can show about it right now. Reads only; the one write is a chain verification the
owner asks for.

The list of sensitive columns (``SENSITIVE_COLUMNS``) is code, reviewed with the code it
describes; the page's statements are in ``compliance_statements``.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from heroshhi.audit.selectors import audit_queue_for_workspace
from heroshhi.audit.verify import verify_chain
from heroshhi.core.actors import Actor
from heroshhi.core.crypto.fields import EncryptedField
from heroshhi.core.middleware import STATIC_HEADERS
from heroshhi.core.models import WorkspaceKey
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import OptOutRecord
from heroshhi.privacy.models import ChainVerification, ConsentRecord
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

# Who may see the page: the owner, who answers for the workspace's compliance.
COMPLIANCE_CAPABILITY = Capability.AUDIT_VIEW

# Columns that hold personal data or secrets and must be encrypted at rest (P02), by model.
# A new model with such a column belongs here; a test fails when a listed column is gone.
SENSITIVE_COLUMNS: dict[str, tuple[str, ...]] = {
    "leads.Lead": ("name", "phone", "email", "description", "custom_values"),
    "leads.Note": ("body",),
    "leads.Task": ("title",),
    "leads.LeadImport": ("content", "headers", "error_report"),
    "leads.ImportMapping": ("mapping",),
    "messaging.Conversation": ("wa_user_id",),
    "messaging.Message": ("body", "payload"),
    "messaging.Call": ("from_number", "to_number", "notes", "recording_url"),
    "whatsapp.WhatsAppChannel": ("access_token", "app_secret", "verify_token"),
    "whatsapp.WebhookDelivery": ("body",),
    "workspaces.Invitation": ("email",),
    "privacy.PrivacyRequest": (
        "requester_name",
        "requester_email",
        "requester_phone",
        "requester_message",
        "evidence",
    ),
    "accounts.TotpDevice": ("secret_sealed",),
    "privacy.Incident": ("description_sealed",),
}
# Platform-level values sealed by heroshhi.accounts.usercrypto (AES-256-GCM under a key
# derived from the master key): plain text columns to the schema, ciphertext in them.
SEALED_COLUMNS = frozenset(
    {"accounts.TotpDevice.secret_sealed", "privacy.Incident.description_sealed"}
)


@dataclass(frozen=True, slots=True)
class ColumnCheck:
    model: str
    column: str
    state: str  # "encrypted", "sealed", "plaintext" or "missing"

    @property
    def ok(self) -> bool:
        return self.state in ("encrypted", "sealed")


@dataclass(frozen=True, slots=True)
class Coverage:
    columns: list[ColumnCheck]

    @property
    def protected(self) -> int:
        return sum(1 for column in self.columns if column.ok)

    @property
    def total(self) -> int:
        return len(self.columns)

    @property
    def percent(self) -> int:
        return 100 if not self.total else (100 * self.protected) // self.total

    @property
    def gaps(self) -> list[ColumnCheck]:
        return [column for column in self.columns if not column.ok]


def encryption_coverage(
    declared: dict[str, Iterable[str]] | None = None,
) -> Coverage:
    """Walk the app registry: is every declared sensitive column an encrypted field?"""
    checks = []
    for label, columns in (SENSITIVE_COLUMNS if declared is None else declared).items():
        try:
            model = apps.get_model(label)
        except LookupError:
            checks += [ColumnCheck(label, column, "missing") for column in columns]
            continue
        for column in columns:
            try:
                model_field = model._meta.get_field(column)
            except FieldDoesNotExist:
                checks.append(ColumnCheck(label, column, "missing"))
                continue
            if isinstance(model_field, EncryptedField):
                state = "encrypted"
            elif f"{label}.{column}" in SEALED_COLUMNS:
                state = "sealed"
            else:
                state = "plaintext"
            checks.append(ColumnCheck(label, column, state))
    return Coverage(columns=checks)


# Transport and headers ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    name: str | Promise
    ok: bool
    detail: str


def _csp(directive: str) -> list[str]:
    return [str(value) for value in (getattr(settings, "SECURE_CSP", {}) or {}).get(directive, [])]


def _egress_tls13() -> bool:
    from heroshhi.core.egress import tls_client_context

    return tls_client_context().minimum_version == ssl.TLSVersion.TLSv1_3


def transport_checks(*, request_is_secure: bool) -> list[Check]:
    """The security settings this installation runs with, checked against P03/P12."""
    hsts = int(getattr(settings, "SECURE_HSTS_SECONDS", 0) or 0)
    script = _csp("script-src")
    return [
        Check(
            _("This page came over HTTPS"),
            request_is_secure,
            "yes" if request_is_secure else "no (development server or proxy without TLS)",
        ),
        Check(
            _("Plain HTTP is redirected to HTTPS"),
            bool(settings.SECURE_SSL_REDIRECT),
            f"SECURE_SSL_REDIRECT={settings.SECURE_SSL_REDIRECT}",
        ),
        Check(
            _("HSTS for at least a year, subdomains included"),
            hsts >= 31_536_000 and bool(settings.SECURE_HSTS_INCLUDE_SUBDOMAINS),
            f"max-age={hsts}",
        ),
        Check(
            _("Cookies only over HTTPS"),
            bool(settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE),
            f"session={settings.SESSION_COOKIE_SECURE}, csrf={settings.CSRF_COOKIE_SECURE}",
        ),
        Check(
            _("Outbound connections require TLS 1.3"),
            _egress_tls13(),
            "minimum_version=TLSv1_3" if _egress_tls13() else "lower versions allowed",
        ),
        Check(
            _("Scripts only from this site, with a per-page nonce"),
            str(CSP.NONCE) in script and "'unsafe-inline'" not in script,
            "'self' + nonce" if str(CSP.NONCE) in script else " ".join(script),
        ),
        Check(
            _("No plugins, no <base> tricks, no framing (CSP)"),
            _csp("object-src") == ["'none'"]
            and _csp("base-uri") == ["'none'"]
            and _csp("frame-ancestors") == ["'none'"],
            "object-src, base-uri, frame-ancestors: 'none'",
        ),
        Check(
            _("X-Frame-Options: DENY"),
            settings.X_FRAME_OPTIONS == "DENY",
            str(settings.X_FRAME_OPTIONS),
        ),
        Check(
            _("No content-type sniffing"),
            bool(settings.SECURE_CONTENT_TYPE_NOSNIFF),
            "nosniff",
        ),
        Check(
            _("Referrer and opener policies"),
            bool(settings.SECURE_REFERRER_POLICY and settings.SECURE_CROSS_ORIGIN_OPENER_POLICY),
            f"{settings.SECURE_REFERRER_POLICY}, {settings.SECURE_CROSS_ORIGIN_OPENER_POLICY}",
        ),
        Check(
            _("Resource policy and legacy XSS filter off"),
            STATIC_HEADERS.get("Cross-Origin-Resource-Policy") == "same-origin"
            and STATIC_HEADERS.get("X-XSS-Protection") == "0",
            "CORP same-origin, X-XSS-Protection 0",
        ),
    ]


# Keys and the audit chain ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyAge:
    purpose: str
    version: int
    created_at: datetime
    days: int


def key_ages(*, workspace: Workspace, now: datetime | None = None) -> list[KeyAge]:
    """Active key versions of the workspace: metadata only, never key material."""
    now = now or timezone.now()
    rows = (
        WorkspaceKey.objects.filter(workspace=workspace, state=WorkspaceKey.State.ACTIVE)
        .order_by("purpose", "-version")
        .values_list("purpose", "version", "created_at")
    )
    return [
        KeyAge(purpose=purpose, version=version, created_at=created, days=(now - created).days)
        for purpose, version, created in rows
    ]


@transaction.atomic
def chain_verify(*, workspace: Workspace, actor: Actor) -> ChainVerification:
    """Verify the workspace's audit chain now and keep the outcome for the page."""
    if not actor.role:
        raise PermissionDenied("privacy.no_role")
    require_capability(actor.role, COMPLIANCE_CAPABILITY)
    result = verify_chain(str(workspace.pk))
    with workspace_scope(workspace):
        return ChainVerification.objects.create(
            workspace=workspace,
            ok=result.ok,
            events_checked=result.events_checked,
            problem=result.problem.code.value if result.problem else "",
        )


def last_chain_verification(*, workspace: Workspace) -> ChainVerification | None:
    with workspace_scope(workspace):
        return ChainVerification.objects.order_by("-verified_at").first()


# Counts ---------------------------------------------------------------------------------


def ledger_size(*, workspace: Workspace) -> dict[str, int]:
    with workspace_scope(workspace):
        records = OptOutRecord.objects.all()
        return {
            "records": records.count(),
            "opt_outs": records.filter(status=OptOutRecord.Status.OPTED_OUT).count(),
        }


def consent_counts(*, workspace: Workspace) -> dict[str, int]:
    with workspace_scope(workspace):
        records = ConsentRecord.objects.all()
        return {
            "granted": records.filter(status=ConsentRecord.Status.GRANTED).count(),
            "withdrawn": records.filter(status=ConsentRecord.Status.WITHDRAWN).count(),
        }


def evidence_summary(*, workspace: Workspace) -> dict[str, Any]:
    """Counts and dates for the owner's page (no personal data)."""
    return {
        "coverage": encryption_coverage(),
        "keys": key_ages(workspace=workspace),
        "chain": last_chain_verification(workspace=workspace),
        # Events not sealed into the chain yet; the page warns when the oldest is stale.
        "audit_queue": audit_queue_for_workspace(workspace),
        "ledger": ledger_size(workspace=workspace),
        "consent": consent_counts(workspace=workspace),
    }
