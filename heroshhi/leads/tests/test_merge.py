"""Merging two leads by hand: field choices, tags, moved notes/tasks/timeline, the duplicate
gone, blind indexes following the kept values, audit without personal data, and who may."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, LeadNameToken, Note, Task, TimelineEvent
from heroshhi.leads.selectors import Viewer, leads_list, parse_lead_filters
from heroshhi.leads.services.merging import lead_merge
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.services.tasks import task_create
from heroshhi.leads.services.trash import lead_trash
from heroshhi.leads.tests.conftest import EMAIL, PHONE
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db

OTHER_PHONE = "+919123456780"


def _pair(world, make_lead, alice):
    stages = stages_ensure_defaults(workspace=world.a)
    keep = make_lead(phone=PHONE, tags=["hot"], deal_value="1000")
    absorb = make_lead(
        name="Priya Verma",
        phone=OTHER_PHONE,
        email=EMAIL,
        tags=["pune", "hot"],
        source="google_ads",
        stage=stages[2],
        description="Wants a 2BHK",
    )
    return keep, absorb


def _search(world, q):
    page = leads_list(
        workspace=world.a,
        viewer=Viewer(role=Role.OWNER, member_id=None),
        filters=parse_lead_filters({"q": [q]}),
    )
    return [lead.pk for lead in page.items]


def test_field_choices_tags_and_moved_records(world, make_lead, alice):
    keep, absorb = _pair(world, make_lead, alice)
    note = note_add(workspace=world.a, actor=alice, lead=absorb, body="Called twice")
    task = task_create(
        workspace=world.a,
        actor=alice,
        lead=absorb,
        title="Send brochure",
        due_at=timezone.now() + timedelta(days=1),
    )
    with workspace_scope(world.a):
        absorbed_events = set(
            TimelineEvent.objects.filter(lead=absorb).values_list("pk", flat=True)
        )
    absorb_id = absorb.pk

    merged = lead_merge(
        workspace=world.a,
        actor=alice,
        keep=keep,
        absorb=absorb,
        choices={"name": "absorb", "phone": "absorb", "email": "absorb", "stage": "absorb"},
    )

    with workspace_scope(world.a):
        fresh = Lead.objects.get(pk=keep.pk)
        assert not Lead.objects.filter(pk=absorb_id).exists()
        assert fresh.name == "Priya Verma"
        assert fresh.phone == OTHER_PHONE
        assert fresh.email == EMAIL
        assert fresh.stage_id == absorb.stage_id
        assert fresh.deal_value == Decimal("1000")  # kept
        assert fresh.source == "manual"  # kept
        assert fresh.description is None  # kept, even though empty
        assert sorted(tag.name for tag in fresh.tags.all()) == ["hot", "pune"]
        assert Note.objects.get(pk=note.pk).lead_id == keep.pk
        assert Task.objects.get(pk=task.pk).lead_id == keep.pk
        moved = set(TimelineEvent.objects.filter(lead=keep).values_list("pk", flat=True))
        assert absorbed_events <= moved
        merged_event = TimelineEvent.objects.get(lead=keep, kind=TimelineEvent.Kind.MERGED)
        assert merged_event.data == {
            "absorbed": str(absorb_id),
            "fields": ["name", "phone", "email", "stage"],
        }
        assert LeadNameToken.objects.filter(lead_id=absorb_id).count() == 0
    assert merged.pk == keep.pk


def test_blind_indexes_follow_the_chosen_values(world, make_lead, alice):
    keep, absorb = _pair(world, make_lead, alice)
    lead_merge(
        workspace=world.a,
        actor=alice,
        keep=keep,
        absorb=absorb,
        choices={"phone": "absorb", "email": "absorb", "name": "absorb"},
    )
    assert _search(world, "+91 91234 56780") == [keep.pk]
    assert _search(world, EMAIL.upper()) == [keep.pk]
    assert _search(world, "verma") == [keep.pk]
    assert _search(world, "98765 43210") == []  # the phone not chosen is gone
    assert _search(world, "sharma") == []


def test_keeping_values_keeps_the_search_working(world, make_lead, alice):
    keep, absorb = _pair(world, make_lead, alice)
    lead_merge(workspace=world.a, actor=alice, keep=keep, absorb=absorb, choices={})
    assert _search(world, "98765 43210") == [keep.pk]
    assert _search(world, "sharma") == [keep.pk]
    assert _search(world, EMAIL) == []


def test_audit_has_field_names_only(world, make_lead, alice):
    keep, absorb = _pair(world, make_lead, alice)
    lead_merge(
        workspace=world.a,
        actor=alice,
        keep=keep,
        absorb=absorb,
        choices={"name": "absorb", "phone": "absorb", "email": "absorb", "description": "absorb"},
    )
    event = AuditEvent.objects.get(action="lead_merged")
    assert event.metadata == {"fields": ["name", "phone", "email", "description"]}
    dumped = json.dumps(event.metadata) + event.reason
    for plaintext in ("Priya", "Verma", "9123456780", EMAIL, "2BHK"):
        assert plaintext not in dumped


def test_validation(world, make_lead, alice):
    keep, absorb = _pair(world, make_lead, alice)
    with pytest.raises(ValidationError):
        lead_merge(workspace=world.a, actor=alice, keep=keep, absorb=keep, choices={})
    bad_choices: list[Any] = [{"name": "both"}, {"tags": "keep"}]
    for choices in bad_choices:
        with pytest.raises(ValidationError):
            lead_merge(workspace=world.a, actor=alice, keep=keep, absorb=absorb, choices=choices)
    lead_trash(workspace=world.a, actor=alice, lead=absorb)
    with pytest.raises(ValidationError):
        lead_merge(workspace=world.a, actor=alice, keep=keep, absorb=absorb, choices={})
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=absorb.pk).exists()


def test_sales_are_refused(world, make_lead, alice, bob, client):
    keep, absorb = _pair(world, make_lead, alice)
    with pytest.raises(PermissionDenied):
        lead_merge(workspace=world.a, actor=bob, keep=keep, absorb=absorb, choices={})
    client.login(email=world.bob.email, password=PASSWORD)
    url = reverse("leads:merge", kwargs={"slug": world.a.slug, "lead_id": keep.pk})
    assert client.get(url).status_code == 403
    response = client.post(url, {"step": "confirm", "other": str(absorb.pk)})
    assert response.status_code == 403
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=absorb.pk).exists()


def test_cross_workspace_merge_is_impossible(world, make_lead, alice, charlie, client):
    keep, absorb = _pair(world, make_lead, alice)
    foreign = make_lead(workspace=world.b, actor=charlie, name="Beta Lead", phone=PHONE)
    with pytest.raises(Http404):
        lead_merge(workspace=world.a, actor=alice, keep=keep, absorb=foreign, choices={})
    with pytest.raises(Http404):
        lead_merge(workspace=world.b, actor=charlie, keep=foreign, absorb=keep, choices={})

    url = reverse("leads:merge", kwargs={"slug": world.a.slug, "lead_id": keep.pk})
    client.login(email=world.charlie.email, password=PASSWORD)
    assert client.get(url).status_code == 404
    assert client.post(url, {"step": "confirm", "other": str(absorb.pk)}).status_code == 404
    client.logout()

    client.login(email=world.alice.email, password=PASSWORD)
    for step in ("compare", "confirm"):
        response = client.post(url, {"step": step, "other": str(foreign.pk), "name": "absorb"})
        assert response.status_code == 404
    with workspace_scope(world.b):
        assert Lead.objects.filter(pk=foreign.pk).exists()
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=absorb.pk).exists()


def test_the_merge_page_flow(world, make_lead, alice, client):
    keep, absorb = _pair(world, make_lead, alice)
    client.login(email=world.alice.email, password=PASSWORD)
    detail = reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": keep.pk})
    url = reverse("leads:merge", kwargs={"slug": world.a.slug, "lead_id": keep.pk})
    assert url in client.get(detail).content.decode()
    assert client.get(url).status_code == 200

    found = client.post(url, {"step": "search", "q": "+91 91234-56780"}).content.decode()
    assert str(absorb.pk) in found
    itself = client.post(url, {"step": "search", "q": "98765 43210"}).content.decode()
    assert "No other lead matches." in itself

    compare = client.post(url, {"step": "compare", "other": str(absorb.pk)}).content.decode()
    assert "Priya Verma" in compare
    assert 'name="phone" value="absorb"' in compare

    response = client.post(
        url, {"step": "confirm", "other": str(absorb.pk), "name": "absorb", "phone": "keep"}
    )
    assert response.status_code == 302
    assert response["Location"] == detail
    page = client.get(detail).content.decode()
    assert "Priya Verma" in page
    assert "Merged" in page
    with workspace_scope(world.a):
        assert not Lead.objects.filter(pk=absorb.pk).exists()


def test_the_merge_link_is_hidden_from_sales(world, make_lead, bob, bob_member, client):
    lead = make_lead(actor=bob, phone=PHONE)
    client.login(email=world.bob.email, password=PASSWORD)
    detail = reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": lead.pk})
    assert "Merge with another lead" not in client.get(detail).content.decode()
