"""The pipeline board: each stage's newest live leads and how many it holds."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Stage
from heroshhi.leads.selectors import Viewer, visible_leads
from heroshhi.workspaces.models import Workspace

BOARD_CARDS_PER_STAGE = 50


@dataclass(frozen=True, slots=True)
class BoardColumn:
    stage: Stage
    cards: list[Lead]
    total: int


def leads_board(*, workspace: Workspace, viewer: Viewer, stages: list[Stage]) -> list[BoardColumn]:
    """One column per stage with its newest live leads; three queries whatever the size
    (cards, per-stage totals; the stages are given)."""
    with workspace_scope(workspace):
        live = visible_leads(viewer=viewer).filter(deleted_at__isnull=True)
        ranked = live.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("stage_id")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        cards = list(
            ranked.filter(rank__lte=BOARD_CARDS_PER_STAGE)
            .select_related("owner__user")
            .order_by("stage_id", "-created_at", "-id")
        )
        totals = dict(
            live.order_by().values("stage_id").annotate(n=Count("id")).values_list("stage_id", "n")
        )
    by_stage: dict[uuid.UUID, list[Lead]] = {}
    for lead in cards:
        by_stage.setdefault(lead.stage_id, []).append(lead)
    return [
        BoardColumn(stage=stage, cards=by_stage.get(stage.pk, []), total=totals.get(stage.pk, 0))
        for stage in stages
    ]


def stage_lead_counts(*, workspace: Workspace) -> dict[uuid.UUID, int]:
    """Leads per stage, the trash included (a stage holding any cannot be deleted)."""
    with workspace_scope(workspace):
        rows = Lead.objects.order_by().values("stage_id").annotate(n=Count("id"))
        return {row["stage_id"]: row["n"] for row in rows}
