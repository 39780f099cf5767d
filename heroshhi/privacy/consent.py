"""Marketing consent per lead (P09, P24): recorded, withdrawn, asked about.

* ``consent_grant`` records that the contact agreed (from a form, an ad, an import, a chat,
  staff, or the API) to a purpose, under a notice version;
* ``consent_withdraw`` records the withdrawal *and* opts the contact out, so the refusal
  survives the lead in the blind-indexed ledger;
* ``has_marketing_consent`` is what campaigns ask: the latest marketing record says
  granted and the contact is not opted out now (a STOP reply withdraws consent as well).

Records are append-only; the latest one per purpose is the state. They are personal data
about the lead and go with it on erasure or purge (the ledger entry stays).

For integrations: call ``consent_grant(..., source="form"|"ad", given_at=<when the person
agreed>)`` after the lead exists; the CSV import records its rows' consent in one go with
``consents_grant_many``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.metadata import looks_personal
from heroshhi.audit.services import AuditRecord, audit_record_many
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.instants import clean_past_instant
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.selectors import lead_is_visible, viewer_for
from heroshhi.messaging import optout
from heroshhi.privacy.models import ConsentRecord
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

CONSENT_AUDIT_ACTION = AuditAction.CONSENT_RECORDED
_NOTICE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,39}")
HISTORY_LIMIT = 200
# How far back a consent may be dated (an import from an earlier system, a paper form): three
# years. Anything older is far likelier a typing error than a consent, and consent that old
# predates the notice versions we record, so it is asked again rather than back-dated.
CONSENT_MAX_AGE_DAYS = 3 * 365


def _check_actor(*, workspace: Workspace, actor: Actor, lead: Lead, capability: Capability) -> None:
    if not actor.role:
        raise PermissionDenied("privacy.no_role")
    require_capability(actor.role, capability)
    if lead.workspace_id != workspace.pk:
        raise Http404
    with workspace_scope(workspace):
        if not lead_is_visible(viewer=viewer_for(actor=actor), lead=lead):
            raise Http404


def _clean_choice(value: object, *, field: str, choices: list[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(
            {field: [_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}]}
        )
    return value


def _clean_notice_version(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    if not _NOTICE_VERSION.fullmatch(text) or looks_personal(text):
        raise ValidationError(
            {
                "notice_version": [
                    _(
                        "Use a short label for the wording the person saw, such as 2026-02 "
                        "(letters, digits, . _ : / -; up to 40)."
                    )
                ]
            }
        )
    return text


def _clean_given_at(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    return clean_past_instant(value, field="given_at", max_age_days=CONSENT_MAX_AGE_DAYS, now=now)


def _append(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    purpose: str,
    status: str,
    source: str,
    notice_version: str,
    given_at: datetime,
) -> ConsentRecord:
    record = ConsentRecord(
        workspace=workspace,
        lead=lead,
        purpose=purpose,
        status=status,
        source=source,
        notice_version=notice_version,
        given_at=given_at,
        actor_type=actor.type.value,
        actor_id=actor.id or "",
    )
    _append_many(workspace=workspace, actor=actor, records=[record])
    return record


def _append_many(*, workspace: Workspace, actor: Actor, records: list[ConsentRecord]) -> None:
    """The records, a timeline entry each and an audit event each, one statement per table."""
    ConsentRecord.objects.bulk_create(records)
    TimelineEvent.objects.bulk_create(
        TimelineEvent(
            workspace=workspace,
            lead=record.lead,
            kind=TimelineEvent.Kind.UPDATED,
            actor_type=actor.type.value,
            actor_id=actor.id or "",
            data={"fields": ["consent"], "consent": record.status, "purpose": record.purpose},
        )
        for record in records
    )
    audit_record_many(
        workspace=workspace,
        actor=actor,
        records=[
            AuditRecord(
                action=CONSENT_AUDIT_ACTION,
                target=("lead", record.lead.pk),
                reason=f"consent_{record.status}",
                metadata={
                    "fields": ["consent"],
                    "record": str(record.pk),
                    "purpose": record.purpose,
                    "source": record.source,
                    "notice_version": record.notice_version,
                },
            )
            for record in records
        ],
    )


@transaction.atomic
def consent_grant(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    source: str,
    notice_version: str = "",
    given_at: datetime | None = None,
    purpose: str = ConsentRecord.Purpose.MARKETING,
) -> ConsentRecord:
    """Record that the contact agreed to ``purpose``. It does not opt an opted-out contact
    back in: only the contact can do that (START), so consent stays unusable until then."""
    _check_actor(workspace=workspace, actor=actor, lead=lead, capability=Capability.LEADS_EDIT)
    clean_purpose = _clean_choice(purpose, field="purpose", choices=ConsentRecord.Purpose.values)
    clean_source = _clean_choice(source, field="source", choices=ConsentRecord.Source.values)
    version = _clean_notice_version(notice_version)
    when = _clean_given_at(given_at, timezone.now())
    with workspace_scope(workspace):
        return _append(
            workspace=workspace,
            actor=actor,
            lead=lead,
            purpose=clean_purpose,
            status=ConsentRecord.Status.GRANTED,
            source=clean_source,
            notice_version=version,
            given_at=when,
        )


@transaction.atomic
def consents_grant_many(
    *,
    workspace: Workspace,
    actor: Actor,
    grants: Sequence[tuple[Lead, datetime | None]],
    source: str,
    purpose: str = ConsentRecord.Purpose.MARKETING,
) -> int:
    """``consent_grant`` for many leads at once (a CSV import): the same checks, one INSERT
    each for the records and their timeline entries, one audit append for all. ``grants``
    pairs each lead with when the person agreed (None: now)."""
    if not actor.role:
        raise PermissionDenied("privacy.no_role")
    require_capability(actor.role, Capability.LEADS_EDIT)
    clean_purpose = _clean_choice(purpose, field="purpose", choices=ConsentRecord.Purpose.values)
    clean_source = _clean_choice(source, field="source", choices=ConsentRecord.Source.values)
    now = timezone.now()
    viewer = viewer_for(actor=actor)
    records = []
    for lead, given_at in grants:
        if lead.workspace_id != workspace.pk or not lead_is_visible(viewer=viewer, lead=lead):
            raise Http404
        records.append(
            ConsentRecord(
                workspace=workspace,
                lead=lead,
                purpose=clean_purpose,
                status=ConsentRecord.Status.GRANTED,
                source=clean_source,
                given_at=_clean_given_at(given_at, now),
                actor_type=actor.type.value,
                actor_id=actor.id or "",
            )
        )
    with workspace_scope(workspace):
        _append_many(workspace=workspace, actor=actor, records=records)
    return len(records)


@transaction.atomic
def consent_withdraw(
    *,
    workspace: Workspace,
    actor: Actor,
    lead: Lead,
    purpose: str = ConsentRecord.Purpose.MARKETING,
) -> ConsentRecord:
    """Record the withdrawal and opt the contact out (ledger, timeline, audit), in one
    transaction. A lead without a phone or WhatsApp id has nothing to opt out; the
    withdrawal is still recorded."""
    _check_actor(workspace=workspace, actor=actor, lead=lead, capability=Capability.CHAT)
    clean_purpose = _clean_choice(purpose, field="purpose", choices=ConsentRecord.Purpose.values)
    api = actor.type == ActorType.API_KEY
    with workspace_scope(workspace):
        record = _append(
            workspace=workspace,
            actor=actor,
            lead=lead,
            purpose=clean_purpose,
            status=ConsentRecord.Status.WITHDRAWN,
            source=ConsentRecord.Source.API if api else ConsentRecord.Source.MANUAL,
            notice_version="",
            given_at=timezone.now(),
        )
        if optout.lead_keys(workspace=workspace, lead=lead):
            optout.lead_opt_out(
                workspace=workspace, actor=actor, lead=lead, method="api" if api else "manual"
            )
    return record


# Reads ------------------------------------------------------------------------------------


def consent_history(*, workspace: Workspace, lead: Lead) -> list[ConsentRecord]:
    with workspace_scope(workspace):
        records = ConsentRecord.objects.filter(lead_id=lead.pk).order_by("created_at", "id")
        return list(records[:HISTORY_LIMIT])


def consent_state(
    *, workspace: Workspace, lead: Lead, purpose: str = ConsentRecord.Purpose.MARKETING
) -> ConsentRecord | None:
    """The latest record for the purpose, or None when none was ever made."""
    with workspace_scope(workspace):
        return (
            ConsentRecord.objects.filter(lead_id=lead.pk, purpose=purpose)
            .order_by("-created_at", "-id")
            .first()
        )


def has_marketing_consent(*, workspace: Workspace, lead: Lead) -> bool:
    """Campaigns send only when this is True: consent granted and not opted out."""
    latest = consent_state(workspace=workspace, lead=lead)
    if latest is None or latest.status != ConsentRecord.Status.GRANTED:
        return False
    return not optout.lead_is_opted_out(workspace=workspace, lead=lead)
