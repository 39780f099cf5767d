"""The "has an overdue task" filter (selector, list page, API, export) and the bulk
"unassign" action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.selectors import LeadFilters, Viewer, leads_list, parse_lead_filters
from heroshhi.leads.services.bulk import leads_bulk_apply
from heroshhi.leads.services.tasks import task_complete, task_create
from heroshhi.leads.services.trash import lead_trash
from heroshhi.leads.tests.conftest import issue_key

pytestmark = pytest.mark.django_db


def _owner() -> Viewer:
    return Viewer(role="owner", member_id=None)


def _task(world, alice, lead, due_at):
    return task_create(workspace=world.a, actor=alice, lead=lead, title="Call back", due_at=due_at)


@pytest.fixture
def now():
    """A boundary just behind the clock: requests in the tests read a later real time."""
    return timezone.now().replace(microsecond=0) - timedelta(seconds=1)


@pytest.fixture
def leads(world, alice, make_lead, now):
    """One lead per case around the boundary ``now``."""
    made = {name: make_lead(name=name) for name in ("past", "exact", "done", "none", "future")}
    made["both"] = make_lead(name="both")
    made["trashed"] = make_lead(name="trashed")
    _task(world, alice, made["past"], now - timedelta(seconds=1))
    _task(world, alice, made["exact"], now)
    task_complete(
        workspace=world.a,
        actor=alice,
        task=_task(world, alice, made["done"], now - timedelta(hours=2)),
    )
    _task(world, alice, made["future"], now + timedelta(minutes=5))
    # Two overdue tasks, one done: the lead is listed once.
    _task(world, alice, made["both"], now - timedelta(days=3))
    task_complete(
        workspace=world.a,
        actor=alice,
        task=_task(world, alice, made["both"], now - timedelta(days=1)),
    )
    _task(world, alice, made["trashed"], now - timedelta(days=1))
    lead_trash(workspace=world.a, actor=alice, lead=made["trashed"])
    return made


def _names(world, filters) -> list[str]:
    page = leads_list(workspace=world.a, viewer=_owner(), filters=filters)
    return sorted(lead.name or "" for lead in page.items)


def test_only_live_leads_with_an_open_task_due_before_now_match(world, leads, now):
    filters = LeadFilters(has_overdue_task=True, overdue_as_of=now)
    assert _names(world, filters) == ["both", "past"]
    # A moment later the task due "now" is overdue too.
    later = LeadFilters(has_overdue_task=True, overdue_as_of=now + timedelta(seconds=1))
    assert _names(world, later) == ["both", "exact", "past"]
    assert len(_names(world, LeadFilters())) == 6


def test_the_filter_is_parsed_from_plain_values():
    assert parse_lead_filters({"has_overdue_task": ["on"]}).has_overdue_task is True
    assert parse_lead_filters({"has_overdue_task": "true"}).has_overdue_task is True
    assert parse_lead_filters({"has_overdue_task": ""}).has_overdue_task is False
    # overdue_as_of is for tests only: input cannot set it.
    with pytest.raises(Exception, match="filter"):
        parse_lead_filters({"overdue_as_of": "2020-01-01"})


def test_a_page_of_50_overdue_leads_still_takes_two_queries(
    world, alice, make_lead, bob_member, django_assert_num_queries
):
    for n in range(55):
        lead = make_lead(name=f"Lead {n}", tags=["hot"], owner=bob_member)
        _task(world, alice, lead, timezone.now() - timedelta(hours=1))
    with django_assert_num_queries(2):
        page = leads_list(
            workspace=world.a, viewer=_owner(), filters=LeadFilters(has_overdue_task=True), limit=50
        )
        rows = [
            (lead.stage.name, getattr(lead.owner, "user", None), lead.listed_tags)
            for lead in page.items
        ]
    assert len(rows) == 50


def test_sales_see_only_their_own_overdue_leads(world, alice, bob, make_lead, bob_member):
    mine = make_lead(name="Bob's", owner=bob_member)
    theirs = make_lead(name="Alice's")
    for lead in (mine, theirs):
        _task(world, alice, lead, timezone.now() - timedelta(hours=1))
    page = leads_list(
        workspace=world.a,
        viewer=Viewer(role="sales", member_id=bob_member.pk),
        filters=LeadFilters(has_overdue_task=True),
    )
    assert [lead.pk for lead in page.items] == [mine.pk]


def test_the_list_page_filters_and_keeps_the_box_ticked(client, world, leads):
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse("leads:list", kwargs={"slug": world.a.slug})
    response = client.post(url, {"has_overdue_task": "on"})
    assert response.status_code == 200
    # By the real clock the task due at the boundary is overdue too.
    names = sorted(lead.name for lead in response.context["page"].items)
    assert names == ["both", "exact", "past"]
    page = response.content.decode()
    assert 'name="has_overdue_task" value="on" id="id_has_overdue_task" checked' in page
    assert "has_overdue_task=on" in page  # the export link carries the filter
    shared = client.get(url, {"has_overdue_task": "on"})
    assert len(shared.context["page"].items) == 3


def test_the_api_list_search_and_export_take_the_filter(client, world, leads):
    key = issue_key(world.a)
    listed = client.get("/api/v1/leads", {"has_overdue_task": "true"}, **key)
    assert listed.status_code == 200
    assert sorted(item["name"] for item in listed.json()["items"]) == ["both", "exact", "past"]
    searched = client.post(
        "/api/v1/leads/search",
        {"q": "past", "has_overdue_task": True},
        content_type="application/json",
        **key,
    )
    assert [item["name"] for item in searched.json()["items"]] == ["past"]
    exported = client.get("/api/v1/leads/export.csv", {"has_overdue_task": "1"}, **key)
    body = b"".join(exported.streaming_content).decode("utf-8-sig")
    assert len(body.strip().splitlines()) == 4  # the header and three leads
    assert AuditEvent.objects.filter(action="data_export").get().metadata["filters"] == [
        "has_overdue_task"
    ]


def test_charlies_key_finds_none_of_alices_overdue_leads(client, world, leads):
    listed = client.get("/api/v1/leads", {"has_overdue_task": "true"}, **issue_key(world.b))
    assert listed.json()["items"] == []


# Bulk unassign -----------------------------------------------------------------------------


def _bulk_url(world):
    return reverse("leads:bulk", kwargs={"slug": world.a.slug})


def test_bulk_unassign_clears_owners_with_timeline_and_audit(client, world, make_lead, bob_member):
    owned = [make_lead(name=f"Owned {i}", owner=bob_member) for i in range(2)]
    loose = make_lead(name="Loose")
    client.login(email=world.alice.email, password=PASSWORD)
    ids = [str(lead.pk) for lead in (*owned, loose)]
    response = client.post(_bulk_url(world), {"lead": ids, "action": "unassign"})
    assert response.status_code == 302
    assert "2 leads updated" in client.get(response.url).content.decode()
    with workspace_scope(world.a):
        assert not Lead.objects.filter(owner__isnull=False).exists()
        events = list(TimelineEvent.objects.filter(kind=TimelineEvent.Kind.ASSIGNED))
    assert sorted(e.lead_id for e in events) == sorted(lead.pk for lead in owned)
    assert all(e.data == {"from": str(bob_member.pk), "to": None} for e in events)
    audits = AuditEvent.objects.filter(action="lead_updated", target_id__in=ids)
    assert sorted(a.target_id for a in audits) == sorted(str(lead.pk) for lead in owned)
    assert all(a.metadata["fields"] == ["assigned"] for a in audits)


def test_the_list_offers_unassign_to_owners_only(client, world, make_lead, bob_member):
    make_lead(owner=bob_member)
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse("leads:list", kwargs={"slug": world.a.slug})
    assert 'value="unassign"' in client.get(url).content.decode()
    client.login(email=world.bob.email, password=PASSWORD)
    assert 'value="unassign"' not in client.get(url).content.decode()


def test_sales_cannot_bulk_unassign(client, world, bob, make_lead, bob_member):
    lead = make_lead(owner=bob_member)
    with pytest.raises(PermissionDenied):
        leads_bulk_apply(
            workspace=world.a, actor=bob, lead_ids=[lead.pk], action="unassign", value=None
        )
    client.login(email=world.bob.email, password=PASSWORD)
    response = client.post(_bulk_url(world), {"lead": [str(lead.pk)], "action": "unassign"})
    assert response.status_code == 403
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).owner_id == bob_member.pk


def test_charlie_cannot_unassign_alices_leads(world, charlie, make_lead, bob_member):
    lead = make_lead(owner=bob_member)
    changed = leads_bulk_apply(
        workspace=world.b, actor=charlie, lead_ids=[lead.pk], action="unassign", value=None
    )
    assert changed == 0
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).owner_id == bob_member.pk
