"""Writes of the platform admin console: suspending and reactivating a business account.

Each change is recorded twice in its own transaction: on the workspace's chain, so the
owner's audit log shows what happened to the account, and on the platform chain, where the
operators' actions are reviewed. The workspace chain is appended first: the platform head
is the busier lock (every sign-in), so it is taken last and held for the shortest time.
Every service that writes to both chains must take them in this order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from functools import partial

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.request_context import current_request
from heroshhi.workspaces.models import Workspace


class StatusChangeReason(StrEnum):
    """Why an operator suspended or reactivated an account. Codes only: the audit chain
    keeps them for a year, so free text (which could name a person) is never asked for."""

    BILLING = "billing"
    ABUSE = "abuse"
    SECURITY = "security"
    OWNER_REQUEST = "owner_request"
    OTHER = "other"


REASON_LABELS: dict[StatusChangeReason, str | Promise] = {
    StatusChangeReason.BILLING: _("Billing"),
    StatusChangeReason.ABUSE: _("Abuse of the service"),
    StatusChangeReason.SECURITY: _("Security"),
    StatusChangeReason.OWNER_REQUEST: _("The owner asked for it"),
    StatusChangeReason.OTHER: _("Other"),
}

# A platform job (for example an unpaid-invoice run) may act as the system.
_PLATFORM_ACTORS = frozenset({ActorType.PLATFORM_ADMIN, ActorType.SYSTEM})


def _require_platform_actor(actor: Actor) -> None:
    if actor.type not in _PLATFORM_ACTORS:
        raise PermissionDenied("platform.workspace_status")


@contextmanager
def _without_operator_address() -> Iterator[None]:
    """The workspace's copy of the event is read by its owner: it keeps the request id (a
    support reference) but not the operator's IP address and browser, which stay on the
    platform chain."""
    meta = current_request.get()
    token = current_request.set(None if meta is None else replace(meta, ip=None, user_agent=""))
    try:
        yield
    finally:
        current_request.reset(token)


def _reason(reason: StatusChangeReason | str) -> StatusChangeReason:
    try:
        return StatusChangeReason(reason)
    except ValueError:
        raise ValidationError(_("Choose a reason from the list."), code="invalid_reason") from None


def _change_status(
    *,
    workspace: Workspace,
    actor: Actor,
    reason: StatusChangeReason | str,
    source: Workspace.Status,
    target: Workspace.Status,
    action: AuditAction,
    refusal: str,
) -> Workspace:
    _require_platform_actor(actor)
    code = _reason(reason)
    # Locked, so two operators acting at once cannot both pass the status check.
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if locked.status != source:
        raise ValidationError(refusal, code=f"workspace_{locked.status}")
    locked.status = target
    locked.save(update_fields=["status"])
    record = partial(
        audit_record,
        actor=actor,
        action=action,
        target=("workspace", str(locked.pk)),
        metadata={"reason": code.value},
    )
    with _without_operator_address():
        record(workspace=locked)
    record(workspace=None)
    workspace.status = locked.status
    return locked


@transaction.atomic
def workspace_suspend(
    *, workspace: Workspace, actor: Actor, reason: StatusChangeReason | str
) -> Workspace:
    """Put an active workspace on hold: its members see the suspended page, its API keys
    get 403 ``workspace_suspended`` and it cannot send (``workspace_is_active``)."""
    return _change_status(
        workspace=workspace,
        actor=actor,
        reason=reason,
        source=Workspace.Status.ACTIVE,
        target=Workspace.Status.SUSPENDED,
        action=AuditAction.WORKSPACE_SUSPENDED,
        refusal=gettext("Only an active workspace can be suspended."),
    )


@transaction.atomic
def workspace_reactivate(
    *, workspace: Workspace, actor: Actor, reason: StatusChangeReason | str
) -> Workspace:
    """Lift a suspension. A workspace being terminated is not brought back this way."""
    return _change_status(
        workspace=workspace,
        actor=actor,
        reason=reason,
        source=Workspace.Status.SUSPENDED,
        target=Workspace.Status.ACTIVE,
        action=AuditAction.WORKSPACE_REACTIVATED,
        refusal=gettext("Only a suspended workspace can be reactivated."),
    )
