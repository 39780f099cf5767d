"""The incident register (P24, P28): platform staff record incidents; the clocks start at
detection.

Clocks, counted from ``detected_at``:

* CERT-In report: 6 hours (CERT-In Directions, 2022);
* Data Protection Board / supervisory authority: 72 hours (DPDP Rule 7, GDPR Art. 33(1));
* the affected businesses (our customers, who are the controllers): 24 hours, our own
  target for "without undue delay" (GDPR Art. 33(2)), so they can meet their clocks.

A notice is pending until staff mark it sent; pending past its due time it is overdue.
Notice templates are drafts in our words for staff to complete and send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.accounts.usercrypto import SecretContext, open_sealed, seal
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.metadata import looks_personal
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.privacy.models import Incident, IncidentNotice
from heroshhi.workspaces.models import Workspace

CLOCKS: dict[str, timedelta] = {
    IncidentNotice.Kind.CERT_IN: timedelta(hours=6),
    IncidentNotice.Kind.AUTHORITY: timedelta(hours=72),
    IncidentNotice.Kind.CUSTOMERS: timedelta(hours=24),
}
TITLE_MAX = 160
DESCRIPTION_MAX = 10_000
NOTICE_REFERENCE_MAX = 120
# On the platform chain, with reason codes naming the event (recorded, notice sent, …).
INCIDENT_AUDIT_ACTION = AuditAction.INCIDENT_RECORDED
SUPPORT_CONTACT = "privacy@heroshhi.com"


def _context(incident: Incident) -> SecretContext:
    return SecretContext(table="privacy_incident", column="description", row_id=str(incident.pk))


def incident_description(incident: Incident) -> str:
    """The sealed description, opened (staff pages only)."""
    if not incident.description_sealed:
        return ""
    return open_sealed(incident.description_sealed, context=_context(incident)).decode()


def _require_staff(actor: Actor) -> None:
    if actor.type != ActorType.PLATFORM_ADMIN:
        raise PermissionDenied("privacy.incidents_staff_only")


def _clean_title(value: object) -> str:
    title = str(value or "").strip()
    if not title:
        raise ValidationError({"title": [_("Give the incident a short title.")]})
    if len(title) > TITLE_MAX:
        raise ValidationError({"title": [_("Keep the title under 160 characters.")]})
    if looks_personal(title):
        raise ValidationError(
            {"title": [_("Owners see the title: leave names, numbers and addresses out of it.")]}
        )
    return title


def _clean_choice(value: object, *, field: str, choices: list[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError({field: [_("Choose one of: %(c)s.") % {"c": ", ".join(choices)}]})
    return value


def _clean_time(value: datetime | None, *, field: str, now: datetime) -> datetime | None:
    if value is None:
        return None
    if timezone.is_naive(value):
        raise ValidationError({field: [_("Give the time with its time zone.")]})
    if value > now + timedelta(minutes=5):
        raise ValidationError({field: [_("This time is in the future.")]})
    return value


def _audit(actor: Actor, incident: Incident, reason: str, **metadata: object) -> None:
    audit_record(
        workspace=None,
        actor=actor,
        action=INCIDENT_AUDIT_ACTION,
        target=("incident", incident.pk),
        reason=reason,
        metadata={"reference": incident.reference, **metadata},
    )


@transaction.atomic
def incident_record(
    *,
    actor: Actor,
    title: str,
    description: str,
    detected_at: datetime,
    severity: str,
    personal_data_involved: bool = True,
    exposure_start: datetime | None = None,
    exposure_end: datetime | None = None,
    workspaces: list[Workspace] | None = None,
) -> Incident:
    """Open an incident; its three notices start their clocks at ``detected_at``."""
    _require_staff(actor)
    now = timezone.now()
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, object] = {}
    checks = {
        "title": lambda: _clean_title(title),
        "severity": lambda: _clean_choice(
            severity, field="severity", choices=Incident.Severity.values
        ),
        "detected_at": lambda: _clean_time(detected_at, field="detected_at", now=now),
        "exposure_start": lambda: _clean_time(exposure_start, field="exposure_start", now=now),
        "exposure_end": lambda: _clean_time(exposure_end, field="exposure_end", now=now),
    }
    for name, check in checks.items():
        try:
            cleaned[name] = check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    text = str(description or "").strip()
    if len(text) > DESCRIPTION_MAX:
        errors["description"] = [_("Keep the description under 10,000 characters.")]
    if not errors and cleaned["detected_at"] is None:
        errors["detected_at"] = [_("Say when the incident was detected.")]
    start, end = cleaned.get("exposure_start"), cleaned.get("exposure_end")
    if not errors and isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        errors["exposure_end"] = [_("The exposure cannot end before it started.")]
    if errors:
        raise ValidationError(errors)
    detected = cleaned["detected_at"]
    assert isinstance(detected, datetime)  # checked above
    incident = Incident(
        title=str(cleaned["title"]),
        detected_at=detected,
        severity=str(cleaned["severity"]),
        personal_data_involved=personal_data_involved,
        exposure_start=start if isinstance(start, datetime) else None,
        exposure_end=end if isinstance(end, datetime) else None,
        created_by_ref=actor.id or "",
    )
    if text:
        incident.description_sealed = seal(text.encode(), context=_context(incident))
    incident.save(force_insert=True)
    if workspaces:
        incident.affected_workspaces.set(workspaces)
    IncidentNotice.objects.bulk_create(
        [
            IncidentNotice(incident=incident, kind=kind, due_at=detected + clock)
            for kind, clock in CLOCKS.items()
        ]
    )
    _audit(
        actor,
        incident,
        "incident_recorded",
        severity=incident.severity,
        workspaces=len(workspaces or []),
    )
    return incident


@transaction.atomic
def incident_update(
    *,
    actor: Actor,
    incident: Incident,
    status: str,
    workspaces: list[Workspace] | None = None,
) -> Incident:
    """Move the incident along (open → contained → resolved → closed, or back) and
    correct the list of affected workspaces."""
    _require_staff(actor)
    clean_status = _clean_choice(status, field="status", choices=Incident.Status.values)
    before = incident.status
    incident.status = clean_status
    incident.updated_at = timezone.now()
    incident.closed_at = incident.updated_at if clean_status == Incident.Status.CLOSED else None
    incident.save(update_fields=["status", "updated_at", "closed_at"])
    if workspaces is not None:
        incident.affected_workspaces.set(workspaces)
    _audit(
        actor,
        incident,
        "incident_updated",
        status_before=before,
        status=clean_status,
        workspaces=incident.affected_workspaces.count(),
    )
    return incident


@transaction.atomic
def incident_notice_sent(
    *,
    actor: Actor,
    incident: Incident,
    kind: str,
    reference: str = "",
    sent_at: datetime | None = None,
) -> IncidentNotice:
    """Mark a notice as sent, with where it went or its acknowledgement number."""
    _require_staff(actor)
    clean_kind = _clean_choice(kind, field="kind", choices=IncidentNotice.Kind.values)
    now = timezone.now()
    when = _clean_time(sent_at, field="sent_at", now=now) or now
    ref = str(reference or "").strip()
    if len(ref) > NOTICE_REFERENCE_MAX or looks_personal(ref):
        raise ValidationError(
            {"reference": [_("Give a ticket or acknowledgement number (no personal data).")]}
        )
    notice = IncidentNotice.objects.select_for_update().get(incident=incident, kind=clean_kind)
    if notice.sent_at is not None:
        raise ValidationError({"kind": [_("This notice was already marked as sent.")]})
    notice.sent_at = when
    notice.sent_by_ref = actor.id or ""
    notice.reference = ref
    notice.save(update_fields=["sent_at", "sent_by_ref", "reference"])
    _audit(
        actor,
        incident,
        "incident_notice_sent",
        kind=clean_kind,
        late=when > notice.due_at,
    )
    return notice


# Reads ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticeClock:
    notice: IncidentNotice
    overdue: bool
    remaining: timedelta | None  # None once sent

    @property
    def label(self) -> str:
        return str(IncidentNotice.Kind(self.notice.kind).label)


def notice_clocks(incident: Incident, *, now: datetime | None = None) -> list[NoticeClock]:
    now = now or timezone.now()
    clocks = []
    for notice in incident.notices.order_by("due_at"):
        if notice.sent_at is not None:
            clocks.append(NoticeClock(notice=notice, overdue=False, remaining=None))
        else:
            clocks.append(
                NoticeClock(
                    notice=notice, overdue=now > notice.due_at, remaining=notice.due_at - now
                )
            )
    return clocks


def incidents_list(*, limit: int = 100) -> list[Incident]:
    return list(Incident.objects.prefetch_related("notices")[:limit])


def incidents_for_workspace(*, workspace: Workspace) -> list[Incident]:
    """Incidents that name this workspace: what its owner is told."""
    return list(
        Incident.objects.filter(affected_workspaces=workspace)
        .prefetch_related("notices")
        .order_by("-detected_at")
    )


def affected_leads(*, incident: Incident, workspace: Workspace) -> models.QuerySet[Lead]:
    """The workspace's leads the incident may have exposed: those that existed during the
    exposure window (all of them when the window is unknown). Empty when the incident
    does not name the workspace. Call inside ``workspace_scope(workspace)``."""
    if not incident.affected_workspaces.filter(pk=workspace.pk).exists():
        return Lead.objects.none()
    leads = Lead.objects.all()
    if incident.exposure_end is not None:
        leads = leads.filter(created_at__lte=incident.exposure_end)
    if incident.exposure_start is not None:
        leads = leads.filter(
            models.Q(deleted_at__isnull=True) | models.Q(deleted_at__gte=incident.exposure_start)
        )
    return leads


def affected_leads_count(*, incident: Incident, workspace: Workspace) -> int:
    with workspace_scope(workspace):
        return affected_leads(incident=incident, workspace=workspace).count()


# Notice templates (our wording; staff complete the bracketed parts) ------------------------


def notice_template(incident: Incident, kind: str) -> str:
    facts = {
        "reference": incident.reference,
        "title": incident.title,
        "detected": incident.detected_at.astimezone(timezone.get_current_timezone()).strftime(
            "%d %b %Y %H:%M %Z"
        ),
        "severity": incident.get_severity_display(),
        "workspaces": incident.affected_workspaces.count(),
        "contact": SUPPORT_CONTACT,
        "personal": _("yes") if incident.personal_data_involved else _("not so far"),
    }
    templates = {
        IncidentNotice.Kind.CERT_IN: _(
            "Subject: Cyber security incident report {reference}\n\n"
            "Organisation: Heroshhi Pro (SaaS CRM platform)\n"
            "Incident: {title}\n"
            "Noticed at: {detected}\n"
            "Severity (our assessment): {severity}\n"
            "Type of incident: [category from the CERT-In list]\n"
            "Systems affected: [hosts, services, IP ranges]\n"
            "What we have done so far: [containment steps]\n"
            "Point of contact: {contact}\n"
        ),
        IncidentNotice.Kind.AUTHORITY: _(
            "Subject: Personal data breach notice {reference}\n\n"
            "We are writing as a data processor for the businesses that use Heroshhi Pro.\n"
            "What happened: {title}\n"
            "When we became aware: {detected}\n"
            "Personal data involved: {personal}\n"
            "Businesses affected: {workspaces}\n"
            "Categories and approximate number of people and records: [fill in]\n"
            "Likely consequences: [fill in]\n"
            "Measures taken or proposed, including to limit harm: [fill in]\n"
            "Contact for more information: {contact}\n"
            "We will send further details as our investigation continues.\n"
        ),
        IncidentNotice.Kind.CUSTOMERS: _(
            "Subject: Security incident affecting your Heroshhi Pro workspace ({reference})\n\n"
            "We found a security incident that touches your workspace and are telling you "
            "straight away so that you can meet your own duties towards your contacts and "
            "the authorities.\n"
            "What happened: {title}\n"
            "When we noticed it: {detected}\n"
            "Personal data involved: {personal}\n"
            "Which of your contacts may be affected: see the compliance page of your "
            "workspace, which lists the incident and the number of leads concerned.\n"
            "What we have done: [containment and fixes]\n"
            "What you can do: [steps for the business and for its contacts]\n"
            "Questions: {contact}\n"
        ),
    }
    template = templates.get(IncidentNotice.Kind(kind))
    if template is None:
        raise ValidationError({"kind": [_("Unknown notice.")]})
    return template.format(**facts)
