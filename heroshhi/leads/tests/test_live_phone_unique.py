"""Two live leads never share a phone number: the unique index, and what the services do
when a concurrent write got to a number first. The race is staged by a dedupe read that
misses the winner, as a read taken just before the winner committed would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services import batch, leads
from heroshhi.leads.services.batch import ItemStatus, LeadItem, leads_create_many
from heroshhi.leads.services.leads import lead_create, lead_update
from heroshhi.leads.services.trash import lead_restore, lead_trash
from heroshhi.leads.tests.conftest import PHONE

pytestmark = pytest.mark.django_db


def _blind_once(real: Callable[..., Any], blind: object) -> Callable[..., Any]:
    """``real``, except that its first call answers ``blind`` (it saw nothing yet)."""
    calls = []

    def staged(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return blind if len(calls) == 1 else real(*args, **kwargs)

    return staged


def test_the_database_refuses_a_second_live_lead_with_a_number(world, make_lead):
    first = make_lead(phone=PHONE)
    copy = Lead(
        workspace=world.a, name="Copy", phone=PHONE, phone_bidx=first.phone_bidx, stage=first.stage
    )
    with workspace_scope(world.a), pytest.raises(IntegrityError), transaction.atomic():
        copy.save(force_insert=True)


def test_a_trashed_lead_and_a_live_one_may_share_a_number(world, alice, make_lead):
    first = make_lead(phone=PHONE)
    lead_trash(workspace=world.a, actor=alice, lead=first)

    again = lead_create(
        workspace=world.a, actor=alice, name="New", phone=PHONE, email=None, source="api"
    )

    assert again.created
    assert again.lead.pk != first.pk


def test_a_create_that_lost_the_race_for_a_number_is_a_repeat_enquiry(
    world, alice, make_lead, monkeypatch
):
    winner = make_lead(phone=PHONE, email=None)
    monkeypatch.setattr(leads, "_live_duplicate", _blind_once(leads._live_duplicate, None))

    result = lead_create(
        workspace=world.a,
        actor=alice,
        name="Priya",
        phone="98765 43210",
        email="priya@example.in",
        source="api",
    )

    assert (result.created, result.lead.pk) == (False, winner.pk)
    with workspace_scope(world.a):
        assert Lead.objects.count() == 1
        assert Lead.objects.get().email == "priya@example.in"
        kinds = list(TimelineEvent.objects.filter(lead=winner).values_list("kind", flat=True))
    assert kinds.count(TimelineEvent.Kind.ENQUIRED_AGAIN) == 1


def test_a_batch_that_lost_the_race_for_a_number_runs_again_and_deduplicates(
    world, alice, make_lead, monkeypatch
):
    winner = make_lead(phone=PHONE)
    monkeypatch.setattr(batch, "_live_leads_by", _blind_once(batch._live_leads_by, {}))

    results = leads_create_many(
        workspace=world.a,
        actor=alice,
        items=[
            LeadItem(name="Again", phone="098765-43210", source="api"),
            LeadItem(name="Someone new", phone="+91 91234 56789", source="api"),
        ],
    )

    assert [r.status for r in results] == [ItemStatus.DEDUPLICATED, ItemStatus.CREATED]
    assert results[0].lead is not None
    assert results[0].lead.pk == winner.pk
    with workspace_scope(world.a):
        assert Lead.objects.count() == 2


def test_an_edit_that_lost_the_race_for_a_number_is_refused(world, alice, make_lead, monkeypatch):
    make_lead(phone=PHONE)
    other = make_lead(name="Other", phone="+91 91234 56789")
    monkeypatch.setattr(leads, "_refuse_taken", lambda **_kwargs: None)

    with pytest.raises(ValidationError) as caught:
        lead_update(workspace=world.a, actor=alice, lead=other, phone=PHONE)

    assert caught.value.message_dict == {"phone": ["Another lead already has this value."]}


def test_a_lead_cannot_come_back_from_the_trash_onto_a_number_another_lead_has(
    world, alice, make_lead
):
    trashed = make_lead(phone=PHONE)
    lead_trash(workspace=world.a, actor=alice, lead=trashed)
    make_lead(name="Newer", phone=PHONE)

    with pytest.raises(ValidationError) as caught:
        lead_restore(workspace=world.a, actor=alice, lead=trashed)

    assert list(caught.value.message_dict) == ["phone"]
    assert trashed.deleted_at is not None
    with workspace_scope(world.a):
        assert Lead.objects.filter(deleted_at__isnull=True).count() == 1
