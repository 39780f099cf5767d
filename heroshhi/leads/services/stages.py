"""Writes to the pipeline: the default stages, then create, rename, move and delete."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import Http404
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.ordering import renumbered
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import validation
from heroshhi.leads.models import Lead, Stage
from heroshhi.leads.services.common import actor_role
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

DEFAULT_STAGES: tuple[tuple[str, Stage.Kind], ...] = (
    ("New", Stage.Kind.OPEN),
    ("Contacted", Stage.Kind.OPEN),
    ("Qualified", Stage.Kind.OPEN),
    ("Won", Stage.Kind.WON),
    ("Lost", Stage.Kind.LOST),
)


def stages_ensure_defaults(*, workspace: Workspace) -> list[Stage]:
    """The workspace's stages, creating New → Contacted → Qualified → Won / Lost on first use."""
    with workspace_scope(workspace):
        stages = list(Stage.objects.order_by("position", "name"))
        if stages:
            return stages
        Stage.objects.bulk_create(
            [
                Stage(workspace=workspace, name=name, position=position, kind=kind)
                for position, (name, kind) in enumerate(DEFAULT_STAGES)
            ],
            ignore_conflicts=True,  # another request may have just created them
        )
        return list(Stage.objects.order_by("position", "name"))


def _stage_audit(
    *, workspace: Workspace, actor: Actor, action: AuditAction, stage: Stage, **meta: object
) -> None:
    audit_record(
        workspace=workspace,
        actor=actor,
        action=action,
        target=("stage", stage.pk),
        metadata=meta,
    )


def _refuse_stage_name_taken(*, name: str, exclude: Stage | None = None) -> None:
    others = Stage.objects.filter(name__iexact=name)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    if others.exists():
        raise ValidationError({"name": [_("Another stage already has this name.")]})


def _clean_kind(kind: object) -> str:
    if kind not in Stage.Kind.values:
        raise ValidationError({"kind": [_("Choose open, won or lost.")]})
    return str(kind)


@transaction.atomic
def stage_create(*, workspace: Workspace, actor: Actor, name: str, kind: str) -> Stage:
    """A new stage at the end of the pipeline."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    data = validation.collect(
        {"name": lambda: validation.clean_stage_name(name), "kind": lambda: _clean_kind(kind)}
    )
    stages_ensure_defaults(workspace=workspace)
    with workspace_scope(workspace):
        _refuse_stage_name_taken(name=data["name"])
        last = Stage.objects.aggregate(last=Max("position"))["last"]
        stage = Stage.objects.create(
            workspace=workspace,
            name=data["name"],
            kind=data["kind"],
            position=0 if last is None else last + 1,
        )
        _stage_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.STAGE_CREATED,
            stage=stage,
            kind=stage.kind,
        )
    return stage


@transaction.atomic
def stage_rename(
    *, workspace: Workspace, actor: Actor, stage: Stage, name: str, kind: str | None = None
) -> Stage:
    """Rename a stage and optionally change its kind (open, won, lost)."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    data = validation.collect(
        {
            "name": lambda: validation.clean_stage_name(name),
            "kind": lambda: stage.kind if kind is None else _clean_kind(kind),
        }
    )
    with workspace_scope(workspace):
        _refuse_stage_name_taken(name=data["name"], exclude=stage)
        changed = [field for field in ("name", "kind") if getattr(stage, field) != data[field]]
        if not changed:
            return stage
        stage.name = data["name"]
        stage.kind = data["kind"]
        stage.save(update_fields=["name", "kind"])
        _stage_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.STAGE_UPDATED,
            stage=stage,
            fields=changed,
        )
    return stage


@transaction.atomic
def stage_move(*, workspace: Workspace, actor: Actor, stage: Stage, direction: str) -> Stage:
    """Swap the stage with its neighbour ("up" or "down"); positions are renumbered 0..n."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    if direction not in ("up", "down"):
        raise ValidationError({"direction": [_("Move a stage up or down.")]})
    with workspace_scope(workspace):
        ordered = list(Stage.objects.select_for_update().order_by("position", "name", "id"))
        index = next((i for i, s in enumerate(ordered) if s.pk == stage.pk), None)
        if index is None:
            raise Http404
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(ordered):
            return stage
        ordered[index], ordered[other] = ordered[other], ordered[index]
        Stage.objects.bulk_update(renumbered(ordered), ["position"])
        stage.position = other
        _stage_audit(
            workspace=workspace,
            actor=actor,
            action=AuditAction.STAGE_UPDATED,
            stage=stage,
            fields=["position"],
            direction=direction,
        )
    return stage


@transaction.atomic
def stage_delete(*, workspace: Workspace, actor: Actor, stage: Stage) -> None:
    """Remove an empty stage. Stages holding leads (live or in the trash) stay."""
    require_capability(actor_role(actor), Capability.PIPELINE_CONFIGURE)
    with workspace_scope(workspace):
        held = Lead.objects.filter(stage=stage).count()
        if held:
            raise ValidationError(
                {
                    "stage": [
                        _(
                            "This stage still holds %(count)d lead(s), counting the trash. "
                            "Move them to another stage first."
                        )
                        % {"count": held}
                    ]
                }
            )
        if Stage.objects.count() <= 1:
            raise ValidationError({"stage": [_("A pipeline needs at least one stage.")]})
        _stage_audit(
            workspace=workspace, actor=actor, action=AuditAction.STAGE_DELETED, stage=stage
        )
        stage.delete()
