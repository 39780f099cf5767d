"""The trash purge (P14): 30 days after deletion a lead is gone with everything attached."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import tasks
from heroshhi.leads.models import Lead, LeadNameToken, Note, Tag, TimelineEvent
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.purge import leads_purge_trashed
from heroshhi.leads.services.trash import lead_trash

pytestmark = pytest.mark.django_db


def _trash_days_ago(world, actor, lead, days):
    then = timezone.now() - timedelta(days=days)
    with mock.patch("django.utils.timezone.now", return_value=then):
        lead_trash(workspace=world.a, actor=actor, lead=lead)


def test_leads_trashed_over_30_days_ago_are_purged_with_everything_attached(
    world, make_lead, alice, charlie
):
    old = make_lead(name="Old Lead", tags=["hot"])
    recent = make_lead(name="Recent Lead", tags=["hot"])
    live = make_lead(name="Live Lead")
    other_workspace = make_lead(workspace=world.b, actor=charlie)
    note_add(workspace=world.a, actor=alice, lead=old, body="Spoke on Monday")
    _trash_days_ago(world, alice, old, days=31)
    _trash_days_ago(world, alice, recent, days=29)

    assert leads_purge_trashed() == 1

    with workspace_scope(world.a):
        assert set(Lead.objects.values_list("pk", flat=True)) == {recent.pk, live.pk}
        assert not Note.objects.exists()
        assert not TimelineEvent.objects.filter(lead_id=old.pk).exists()
        assert not LeadNameToken.objects.filter(lead_id=old.pk).exists()
        assert Tag.objects.get(name="hot").leads.count() == 1  # the link went, the tag stays
    with workspace_scope(world.b):
        assert Lead.objects.filter(pk=other_workspace.pk).exists()
    purge = AuditEvent.objects.get(action="data_delete", reason="retention")
    assert purge.metadata == {"entity": "lead", "count": 1}


def test_time_travel_purges_the_29_day_old_lead_two_days_later(world, make_lead, alice):
    lead = make_lead()
    _trash_days_ago(world, alice, lead, days=29)
    assert leads_purge_trashed() == 0
    assert leads_purge_trashed(now=timezone.now() + timedelta(days=2)) == 1


def test_the_task_runs_the_purge_and_is_safe_to_repeat(world, make_lead, alice):
    _trash_days_ago(world, alice, make_lead(), days=40)
    assert tasks.leads_purge_trashed() == {"deleted": 1}
    assert tasks.leads_purge_trashed() == {"deleted": 0}
