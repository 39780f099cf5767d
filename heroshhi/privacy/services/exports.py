"""Access and portability: the subject report of a lead, and the one-time signed link that
downloads it as a file."""

from __future__ import annotations

import secrets

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.privacy import report as reports
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.common import (
    PROGRESS_FIELDS,
    ensure_about,
    member_id_of,
    require_manage,
    start_handling,
)
from heroshhi.workspaces.models import Workspace

EXPORT_FORMATS = ("json", "zip")
EXPORT_LINK_MAX_AGE = 15 * 60  # seconds
_LINK_SALT = "heroshhi.privacy.export-link"


@transaction.atomic
def lead_access_export(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    format: str,
    request: PrivacyRequest | None = None,
) -> reports.Report:
    """Everything held about the lead's person. ``format`` ("html", "json", "zip") is how it
    will be shown; the page is a sensitive read, a file a data export (both audited)."""
    require_manage(actor)
    if format not in ("html", *EXPORT_FORMATS):
        raise ValidationError({"format": [_("Choose html, json or zip.")]})
    ensure_about(request, lead, PrivacyRequest.Type.ACCESS, PrivacyRequest.Type.PORTABILITY)
    report = reports.subject_report(workspace=workspace, lead=lead)
    counts = reports.report_counts(report)
    with workspace_scope(workspace):
        if request is not None:
            start_handling(request, member_id=member_id_of(actor))
            request.outcome = {
                **(request.outcome or {}),
                "exported": {"format": format, "counts": counts, "at": timezone.now().isoformat()},
            }
            request.save(update_fields=PROGRESS_FIELDS)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.SENSITIVE_READ if format == "html" else AuditAction.DATA_EXPORT,
            target=("lead", lead.pk),
            reason="subject_access",
            metadata={
                "entity": "lead_subject",
                "format": format,
                "counts": counts,
                "request": str(request.pk) if request else None,
            },
        )
    return report


def export_link_create(
    *, workspace: Workspace, actor: Actor, request: PrivacyRequest, format: str
) -> str:
    """A signed token for one download of the request's export, valid 15 minutes and once.

    The token holds the request id, a random nonce and the format: no personal data. A new
    link replaces the previous one."""
    require_manage(actor)
    if format not in EXPORT_FORMATS:
        raise ValidationError({"format": [_("Choose json or zip.")]})
    lead = request.lead
    if lead is None:
        raise ValidationError({"lead": [_("This request is not linked to a lead.")]})
    ensure_about(request, lead, PrivacyRequest.Type.ACCESS, PrivacyRequest.Type.PORTABILITY)
    nonce = secrets.token_hex(16)
    with transaction.atomic(), workspace_scope(workspace):
        PrivacyRequest.objects.filter(pk=request.pk).update(download_nonce=nonce)
    request.download_nonce = nonce
    signer = signing.TimestampSigner(salt=_LINK_SALT)
    return signer.sign_object({"r": str(request.pk), "n": nonce, "f": format})


def export_link_redeem(
    *, workspace: Workspace, actor: Actor, request: PrivacyRequest, token: str
) -> str:
    """The format the link was made for; the link is used up. Tampered, expired, used or
    replaced links raise PrivacyActionRefused with a code saying which."""
    require_manage(actor)
    signer = signing.TimestampSigner(salt=_LINK_SALT)
    try:
        data = signer.unsign_object(token, max_age=EXPORT_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_EXPIRED,
            _("This download link has expired (links last 15 minutes). Prepare a new one."),
        ) from None
    except (signing.BadSignature, ValueError):
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_INVALID, _("This download link is not valid.")
        ) from None
    if not isinstance(data, dict) or data.get("r") != str(request.pk) or not data.get("n"):
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_INVALID, _("This download link is not valid.")
        )
    fmt = data.get("f")
    if fmt not in EXPORT_FORMATS:
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_INVALID, _("This download link is not valid.")
        )
    with transaction.atomic(), workspace_scope(workspace):
        used = (
            PrivacyRequest.objects.filter(pk=request.pk, download_nonce=data["n"])
            .exclude(download_nonce="")
            .update(download_nonce="")
        )
    if used != 1:
        raise PrivacyActionRefused(
            PrivacyActionRefused.LINK_USED,
            _("This download link was already used or replaced by a newer one."),
        )
    request.download_nonce = ""
    return str(fmt)
