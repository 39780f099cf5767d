"""Erasure: a lead and every row about them, hard-deleted at once, with a receipt kept on
the request that asked for it."""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.messaging import optout
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.selectors import erasure_of_subject
from heroshhi.privacy.services.common import (
    PROGRESS_FIELDS,
    audit_request,
    ensure_about,
    is_late,
    member_id_of,
    new_request,
    require_manage,
    start_handling,
)
from heroshhi.whatsapp.models import WebhookDelivery
from heroshhi.whatsapp.services import webhook_deliveries_forget_contact
from heroshhi.workspaces.models import Workspace

# Models with a foreign key to Lead whose rows an erasure keeps: the request itself stays,
# unlinked, as the record that the right was honoured.
_KEPT_ON_ERASURE = frozenset({"privacy.PrivacyRequest"})


def _lead_foreign_keys() -> list[tuple[type[models.Model], models.ForeignKey[Any, Any]]]:
    """Every (model, field) in the project with a foreign key to Lead, through tables of
    many-to-many fields included: the list erasure must clear, kept current by the app
    registry rather than by hand."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if isinstance(field, models.ForeignKey) and field.related_model is Lead:
                found.append((model, field))
    return found


def _count_by_table(rows: dict[str, int]) -> dict[str, int]:
    return {label: count for label, count in sorted(rows.items()) if count}


def _receipt_lines(counts: dict[str, int]) -> list[dict[str, object]]:
    lines = []
    for label, count in counts.items():
        model = apps.get_model(label)
        lines.append({"table": label, "what": str(model._meta.verbose_name_plural), "count": count})
    return lines


@transaction.atomic
def lead_erase(
    *,
    workspace: Workspace,
    actor: Actor,
    lead_id: object,
    request: PrivacyRequest | None = None,
) -> dict[str, Any]:
    """Hard-delete the lead and every row about them at once; returns the receipt.

    Kept on purpose: the opt-out ledger (keyed by blind index, so a re-created number stays
    opted out), the audit log (ids only) and the request itself, unlinked, with the receipt
    and without what the requester typed. With no ``request``, the oldest open erasure
    request about the lead is answered, or else one is recorded and completed here, so
    every erasure has its receipt on file.

    A lead that was already erased raises PrivacyActionRefused(already_erased); an unknown
    id raises Http404.
    """
    require_manage(actor)
    with workspace_scope(workspace):
        try:
            pk = uuid.UUID(str(lead_id))
            lead = Lead.objects.select_for_update().get(pk=pk)
        except (ValueError, Lead.DoesNotExist):
            if erasure_of_subject(workspace=workspace, subject_ref=lead_id) is not None:
                raise PrivacyActionRefused(
                    PrivacyActionRefused.ALREADY_ERASED,
                    _("This lead was already erased; its receipt is on the erasure request."),
                ) from None
            raise Http404 from None
        if request is None:
            # An erasure request already on file for this lead is the one being answered.
            request = (
                PrivacyRequest.objects.filter(
                    lead_id=lead.pk,
                    type=PrivacyRequest.Type.ERASURE,
                    status__in=(PrivacyRequest.Status.OPEN, PrivacyRequest.Status.IN_PROGRESS),
                )
                .order_by("received_at")
                .first()
            )
        ensure_about(request, lead, PrivacyRequest.Type.ERASURE)
        member_id = member_id_of(actor)
        now = timezone.now()
        if request is None:
            channel = (
                PrivacyRequest.Channel.API
                if actor.type == ActorType.API_KEY
                else PrivacyRequest.Channel.DASHBOARD
            )
            request = new_request(
                workspace=workspace,
                request_type=PrivacyRequest.Type.ERASURE,
                scope="",
                lead=lead,
                channel=channel,
                created_by=member_id,
                received_at=now,
            )
            audit_request(
                workspace=workspace,
                actor=actor,
                action=AuditAction.PRIVACY_REQUEST_CREATED,
                request=request,
                channel=request.channel,
            )
        kept_ledger = len(optout.ledger_for_lead(workspace=workspace, lead=lead))
        deleted: dict[str, int] = {}
        # The raw webhook bodies that named them, kept a few days for investigations.
        bodies = webhook_deliveries_forget_contact(
            workspace=workspace, keys=optout.lead_keys(workspace=workspace, lead=lead)
        )
        if bodies:
            deleted[WebhookDelivery._meta.label] = bodies
        # Rows that would outlive the lead (SET_NULL, PROTECT, …) are removed first; the
        # rest goes with the lead through its CASCADE foreign keys.
        for model, field in _lead_foreign_keys():
            if model._meta.label in _KEPT_ON_ERASURE:
                continue
            if field.remote_field.on_delete is not models.CASCADE:
                _total, per_model = model._base_manager.filter(**{field.attname: lead.pk}).delete()
                for label, count in per_model.items():
                    deleted[label] = deleted.get(label, 0) + count
        # What the requester typed names the person too.
        linked = list(PrivacyRequest.objects.filter(lead_id=lead.pk))
        for linked_request in linked:
            _wipe_requester(linked_request)
        _total, per_model = lead.delete()
        for label, count in per_model.items():
            deleted[label] = deleted.get(label, 0) + count
        counts = _count_by_table(deleted)
        receipt: dict[str, Any] = {
            "request": str(request.pk),
            "reference": request.reference,
            "subject": str(pk),
            "erased_at": now.isoformat(),
            "deleted": _receipt_lines(counts),
            "total_deleted": sum(counts.values()),
            "kept": {"opt_out_records": kept_ledger, "privacy_requests": len(linked)},
        }
        request.refresh_from_db()
        start_handling(request, member_id=member_id)
        request.status = PrivacyRequest.Status.COMPLETED
        request.completed_at = now
        request.outcome = {**(request.outcome or {}), "receipt": receipt}
        request.save(update_fields=[*PROGRESS_FIELDS, "completed_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.DATA_DELETE,
            target=("lead", pk),
            reason="erasure",
            metadata={
                "entity": "lead",
                "request": str(request.pk),
                "deleted": counts,
                "kept_opt_out_records": kept_ledger,
            },
        )
        audit_request(
            workspace=workspace,
            actor=actor,
            action=AuditAction.PRIVACY_REQUEST_COMPLETED,
            request=request,
            status=request.status,
            late=is_late(request, now),
            total_deleted=receipt["total_deleted"],
        )
    return receipt


def _wipe_requester(request: PrivacyRequest) -> None:
    request.requester_name = None
    request.requester_email = None
    request.requester_phone = None
    request.requester_message = None
    request.requester_email_bidx = None
    request.requester_phone_bidx = None
    request.save(
        update_fields=[
            "requester_name",
            "requester_email",
            "requester_phone",
            "requester_message",
            "requester_email_bidx",
            "requester_phone_bidx",
        ]
    )
