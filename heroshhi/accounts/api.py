"""REST endpoints for the calling key's identity and the workspace's API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from heroshhi.accounts.models import ApiKey
from heroshhi.accounts.services import api_key_create, api_key_revoke
from heroshhi.core.schemas import InputSchema
from heroshhi.core.tenancy import get_in_scope_or_404
from heroshhi.workspaces.permissions import Capability, Role, require_capability

router = Router(tags=["identity"])


class WorkspaceOut(Schema):
    id: uuid.UUID
    slug: str
    name: str


class MeOut(Schema):
    workspace: WorkspaceOut
    role: str
    api_key_prefix: str


class ApiKeyOut(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyIn(InputSchema):
    name: str = Field(min_length=1, max_length=80)
    role: Role


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The secret; shown only in this response.")


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> MeOut:
    key: ApiKey = request.api_key  # type: ignore[attr-defined]
    return MeOut(
        workspace=WorkspaceOut.model_validate(key.workspace, from_attributes=True),
        role=key.role,
        api_key_prefix=key.prefix,
    )


@router.get("/api-keys", response=list[ApiKeyOut])
def api_keys_list(request: HttpRequest) -> list[ApiKey]:
    require_capability(request.actor.role, Capability.API_KEYS_MANAGE)  # type: ignore[attr-defined]
    return list(ApiKey.objects.order_by("-created_at"))


@router.post("/api-keys", response={201: ApiKeyCreatedOut})
def api_keys_create(request: HttpRequest, payload: ApiKeyIn) -> Status[ApiKeyCreatedOut]:
    issued = api_key_create(
        workspace=request.workspace,  # type: ignore[attr-defined]
        actor=request.actor,  # type: ignore[attr-defined]
        created_by=None,
        name=payload.name,
        role=payload.role,
    )
    listed = ApiKeyOut.model_validate(issued.key, from_attributes=True)
    return Status(201, ApiKeyCreatedOut(**listed.model_dump(), key=issued.plaintext))


@router.delete("/api-keys/{key_id}", response={204: None})
def api_keys_revoke(request: HttpRequest, key_id: str) -> Status[None]:
    key = get_in_scope_or_404(ApiKey.objects.all(), key_id)
    api_key_revoke(workspace=request.workspace, actor=request.actor, key=key)  # type: ignore[attr-defined]
    return Status(204, None)
