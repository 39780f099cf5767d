"""REST endpoints for the whole-workspace export (owner keys only).

``POST /workspace/export`` queues an export (or returns the one already queued or running),
``GET /workspace/export/{id}`` reports its progress, and ``GET .../{id}/file`` downloads the
zip while it is ready (24 hours). The key itself authenticates the download, so the API
needs no signed link. Termination is not offered here: it asks for a person's password.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header
from ninja import Router, Schema, Status

from heroshhi.core.actors import Actor
from heroshhi.core.errors import ErrorEnvelope, error_response
from heroshhi.core.openapi_content import ZIP
from heroshhi.core.tenancy import get_in_scope_or_404
from heroshhi.workspaces import export, export_files
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.models import Workspace, WorkspaceExport
from heroshhi.workspaces.permissions import Capability

router = Router(tags=["workspace export"])


class ExportOut(Schema):
    id: uuid.UUID
    status: WorkspaceExport.Status
    percent: int
    rows_done: int
    rows_total: int
    counts: dict[str, int]
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None


def _out(item: WorkspaceExport) -> ExportOut:
    return ExportOut(
        id=item.pk,
        status=WorkspaceExport.Status(item.status),
        percent=item.percent,
        rows_done=item.rows_done,
        rows_total=item.rows_total,
        counts=item.counts or {},
        created_at=item.created_at,
        finished_at=item.finished_at,
        expires_at=item.expires_at,
    )


def _context(request: HttpRequest) -> tuple[Workspace, Actor]:
    return cast(Workspace, request.workspace), cast(Actor, request.actor)  # type: ignore[attr-defined]


def _access(request: HttpRequest, export_id: str) -> WorkspaceExport:
    _workspace, actor = _context(request)
    require_actor_capability(actor, Capability.WORKSPACE_EXPORT)
    return get_in_scope_or_404(WorkspaceExport.objects.all(), export_id)


@router.post("", response={202: ExportOut}, operation_id="workspace_export_start")
def workspace_export_start(request: HttpRequest) -> Status[ExportOut]:
    workspace, actor = _context(request)
    item = export.workspace_export_start(workspace=workspace, actor=actor, requested_by=None)
    return Status(202, _out(item))


@router.get("/{export_id}", response=ExportOut, operation_id="workspace_export_retrieve")
def workspace_export_retrieve(request: HttpRequest, export_id: str) -> ExportOut:
    return _out(_access(request, export_id))


@router.get(
    "/{export_id}/file",
    response={409: ErrorEnvelope},
    operation_id="workspace_export_file",
    openapi_extra={"responses": {200: {"description": "The zip.", "content": ZIP}}},
)
def workspace_export_file(
    request: HttpRequest, export_id: str
) -> HttpResponse | StreamingHttpResponse:
    """The zip (``application/zip``); 409 ``export_not_ready`` before it is ready or after
    it expired."""
    workspace, actor = _context(request)
    item = _access(request, export_id)
    try:
        export.export_for_token(workspace=workspace, token=export.download_token(item))
    except (export.ExportLinkExpired, export.ExportLinkInvalid):
        return error_response(
            409, "export_not_ready", "This export is not ready, or it has expired."
        )
    export.export_download_record(workspace=workspace, actor=actor, export=item)
    response = StreamingHttpResponse(
        export_files.export_chunks(item), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(True, "workspace-export.zip")
    response["Content-Length"] = str(item.size_bytes)
    response["Cache-Control"] = "no-store"
    return response
