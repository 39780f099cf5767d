"""Everything the workspace holds about one contact, for access and portability (P23).

``subject_report`` builds one plain, JSON-ready structure; the HTML page, the JSON download
and the zip (the JSON plus one CSV per category) are all renderings of it, so they never
disagree. Categories with nothing in them are still present (an empty list says "we hold
none").
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.export import neutralise
from heroshhi.leads.models import CustomField, Lead, Note, Task, TimelineEvent
from heroshhi.messaging import optout
from heroshhi.messaging.models import Call, Conversation, Message
from heroshhi.privacy.models import ConsentRecord, LeadRestriction, PrivacyRequest
from heroshhi.workspaces.models import Membership, Workspace

REPORT_FORMAT = "heroshhi.subject-report/1"
# Every category, in the order the report shows them.
CATEGORIES = (
    "lead",
    "custom_fields",
    "timeline",
    "notes",
    "tasks",
    "conversations",
    "messages",
    "calls",
    "consent",
    "opt_out_history",
    "privacy_requests",
)

Report = dict[str, Any]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _member(member: Membership | None) -> str | None:
    if member is None:
        return None
    return member.user.full_name or member.user.email


def _lead_section(lead: Lead) -> dict[str, Any]:
    deal: Decimal | None = lead.deal_value
    return {
        "id": str(lead.pk),
        "name": lead.name,
        "phone": lead.phone,
        "email": lead.email,
        "description": lead.description,
        "source": lead.source,
        "source_details": lead.source_details,
        "stage": lead.stage.name,
        "owner": _member(lead.owner),
        "tags": sorted(tag.name for tag in lead.tags.all()),
        "deal_value": None if deal is None else str(deal),
        "created_at": _iso(lead.created_at),
        "updated_at": _iso(lead.updated_at),
        "last_activity_at": _iso(lead.last_activity_at),
        "in_trash_since": _iso(lead.deleted_at),
    }


def _custom_fields(lead: Lead) -> list[dict[str, Any]]:
    """Every stored value, archived fields included: they are held even when hidden."""
    values = getattr(lead, "custom_values", None) or {}
    fields = {field.key: field for field in CustomField.objects.all()}
    rows = []
    for key, value in sorted(values.items()):
        field = fields.get(key)
        rows.append(
            {
                "key": key,
                "label": field.label if field else key,
                "value": value,
                "archived": bool(field is None or field.archived_at),
            }
        )
    return rows


def _timeline(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "kind": event.kind,
            "label": str(event.get_kind_display()),
            "at": _iso(event.created_at),
            "actor_type": event.actor_type,
            "details": event.data,
        }
        for event in TimelineEvent.objects.filter(lead=lead).order_by("created_at", "id")
    ]


def _notes(lead: Lead) -> list[dict[str, Any]]:
    return [
        {"body": note.body, "author": _member(note.author), "at": _iso(note.created_at)}
        for note in Note.objects.filter(lead=lead)
        .select_related("author__user")
        .order_by("created_at", "id")
    ]


def _tasks(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "title": task.title,
            "due_at": _iso(task.due_at),
            "done_at": _iso(task.done_at),
            "assignee": _member(task.assignee),
            "created_at": _iso(task.created_at),
        }
        for task in Task.objects.filter(lead=lead)
        .select_related("assignee__user")
        .order_by("due_at", "id")
    ]


def _conversations(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "id": str(conversation.pk),
            "channel": conversation.channel.label or conversation.channel.display_phone_number,
            "whatsapp_user_id": conversation.wa_user_id,
            "status": conversation.status,
            "started_at": _iso(conversation.created_at),
            "last_message_at": _iso(conversation.last_message_at),
            "last_inbound_at": _iso(conversation.last_inbound_at),
            "closed_at": _iso(conversation.closed_at),
        }
        for conversation in Conversation.objects.filter(lead=lead)
        .select_related("channel")
        .order_by("created_at", "id")
    ]


def _messages(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "id": str(message.pk),
            "conversation": str(message.conversation_id),
            "direction": message.direction,
            "kind": message.kind,
            "body": message.body,
            "content": message.payload,
            "status": message.status,
            "failure_reason": message.error_reason,
            "created_at": _iso(message.created_at),
            "sent_at": _iso(message.sent_at),
            "delivered_at": _iso(message.delivered_at),
            "read_at": _iso(message.read_at),
            "failed_at": _iso(message.failed_at),
        }
        for message in Message.objects.filter(lead=lead).order_by("created_at", "id")
    ]


def _calls(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "direction": call.direction,
            "via": call.via,
            "outcome": call.outcome,
            "started_at": _iso(call.started_at),
            "duration_seconds": call.duration_seconds,
            "from_number": call.from_number,
            "to_number": call.to_number,
            "notes": call.notes,
            "recording_url": call.recording_url,
        }
        for call in Call.objects.filter(lead=lead).order_by("started_at", "id")
    ]


def _opt_outs(workspace: Workspace, lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "status": record.status,
            "method": record.method,
            "trigger": record.trigger,
            "at": _iso(record.created_at),
        }
        for record in optout.ledger_for_lead(workspace=workspace, lead=lead)
    ]


def _consent(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "purpose": record.purpose,
            "status": record.status,
            "source": record.source,
            "notice_version": record.notice_version,
            "given_at": _iso(record.given_at),
            "recorded_at": _iso(record.created_at),
            "recorded_by": record.actor_type,
        }
        for record in ConsentRecord.objects.filter(lead_id=lead.pk).order_by("created_at", "id")
    ]


def _privacy(lead: Lead) -> list[dict[str, Any]]:
    return [
        {
            "reference": request.reference,
            "type": request.type,
            "scope": request.scope,
            "status": request.status,
            "received_at": _iso(request.received_at),
            "due_at": _iso(request.due_at),
            "completed_at": _iso(request.completed_at),
        }
        for request in PrivacyRequest.objects.filter(lead_id=lead.pk).order_by("received_at")
    ]


def subject_report(*, workspace: Workspace, lead: Lead, now: datetime | None = None) -> Report:
    """Everything held about ``lead``'s person, as JSON-ready data."""
    with workspace_scope(workspace):
        lead = Lead.objects.select_related("stage", "owner__user").get(pk=lead.pk)
        restriction = LeadRestriction.objects.filter(lead_id=lead.pk).first()
        return {
            "format": REPORT_FORMAT,
            "generated_at": _iso(now or timezone.now()),
            "held_by": workspace.name,
            "lead": _lead_section(lead),
            "custom_fields": _custom_fields(lead),
            "timeline": _timeline(lead),
            "notes": _notes(lead),
            "tasks": _tasks(lead),
            "conversations": _conversations(lead),
            "messages": _messages(lead),
            "calls": _calls(lead),
            "consent": _consent(lead),
            "opt_out_history": _opt_outs(workspace, lead),
            "processing": {
                "restricted": bool(restriction and restriction.is_restricted),
                "analytics_excluded": bool(restriction and restriction.analytics_excluded),
            },
            "privacy_requests": _privacy(lead),
        }


def report_counts(report: Report) -> dict[str, int]:
    """Rows per category: what the audit event and the request outcome record."""
    return {name: (1 if name == "lead" else len(report[name])) for name in CATEGORIES}


# Renderings -------------------------------------------------------------------------------


def report_json(report: Report) -> bytes:
    return json.dumps(report, ensure_ascii=False, indent=2, sort_keys=False).encode()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return neutralise(str(value))


def _csv(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    # With a BOM, spreadsheet programs read the file as UTF-8 (names in Hindi stay intact).
    return ("\ufeff" + buffer.getvalue()).encode()


_COLUMNS: dict[str, list[str]] = {
    "custom_fields": ["key", "label", "value", "archived"],
    "timeline": ["at", "kind", "label", "actor_type", "details"],
    "notes": ["at", "author", "body"],
    "tasks": ["created_at", "title", "due_at", "done_at", "assignee"],
    "conversations": [
        "id",
        "channel",
        "whatsapp_user_id",
        "status",
        "started_at",
        "last_message_at",
        "last_inbound_at",
        "closed_at",
    ],
    "messages": [
        "id",
        "conversation",
        "created_at",
        "direction",
        "kind",
        "body",
        "content",
        "status",
        "failure_reason",
        "sent_at",
        "delivered_at",
        "read_at",
        "failed_at",
    ],
    "calls": [
        "started_at",
        "direction",
        "via",
        "outcome",
        "duration_seconds",
        "from_number",
        "to_number",
        "notes",
        "recording_url",
    ],
    "consent": [
        "given_at",
        "purpose",
        "status",
        "source",
        "notice_version",
        "recorded_at",
        "recorded_by",
    ],
    "opt_out_history": ["at", "status", "method", "trigger"],
    "privacy_requests": [
        "reference",
        "type",
        "scope",
        "status",
        "received_at",
        "due_at",
        "completed_at",
    ],
}


def report_zip(report: Report) -> bytes:
    """``subject.json`` plus one CSV per category (``lead.csv`` as field/value rows)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("subject.json", report_json(report))
        lead_rows = [{"field": key, "value": value} for key, value in report["lead"].items()]
        archive.writestr("lead.csv", _csv(lead_rows, ["field", "value"]))
        for name, columns in _COLUMNS.items():
            archive.writestr(f"{name}.csv", _csv(report[name], columns))
    return buffer.getvalue()


def report_download(report: Report, *, fmt: str, name: str) -> HttpResponse:
    """The report as a file; its name carries a reference or an id, never a person's name."""
    if fmt == "zip":
        response = HttpResponse(report_zip(report), content_type="application/zip")
    else:
        response = HttpResponse(report_json(report), content_type="application/json")
    stamp = timezone.localdate().strftime("%Y%m%d")
    response["Content-Disposition"] = f'attachment; filename="subject-{name}-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response
