"""Assignment rules: round robin, by source, the unassigned pool and its settings page."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.accounts.services import user_create
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import assignment
from heroshhi.leads.assignment import round_robin_position
from heroshhi.leads.models import AssignmentSettings, Lead, TimelineEvent
from heroshhi.leads.selectors import Viewer, visible_leads
from heroshhi.leads.services.assignment import assignment_settings_update
from heroshhi.workspaces.models import Membership
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import member_remove, membership_create

pytestmark = pytest.mark.django_db


def _member(world, email, role=Role.SALES):
    user = user_create(email=email, password=PASSWORD, full_name=email.split("@")[0])
    return membership_create(workspace=world.a, user=user, role=role)


def _rules(world, alice, *, mode, pool=False, sources=None):
    return assignment_settings_update(
        workspace=world.a,
        actor=alice,
        mode=mode,
        sales_see_unassigned_pool=pool,
        source_members=sources or {},
    )


def _url(name, world, **kwargs):
    return reverse(f"leads:{name}", kwargs={"slug": world.a.slug, **kwargs})


def test_round_robin_spreads_new_leads_evenly_and_skips_a_removed_member(
    world, alice, bob_member, make_lead
):
    dev = _member(world, "dev@a.example")
    gone = _member(world, "gone@a.example")
    member_remove(workspace=world.a, actor=alice, member=gone)
    _rules(world, alice, mode=AssignmentSettings.Mode.ROUND_ROBIN)

    leads = [make_lead(name=f"Lead {i}") for i in range(6)]

    assert Counter(lead.owner_id for lead in leads) == {bob_member.pk: 3, dev.pk: 3}
    assert round_robin_position(workspace=world.a) == 6


def test_by_source_uses_the_mapping_and_falls_back_to_round_robin(
    world, alice, bob_member, make_lead
):
    dev = _member(world, "dev@a.example")
    _rules(world, alice, mode=AssignmentSettings.Mode.BY_SOURCE, sources={"facebook_ads": dev})

    assert make_lead(source="facebook_ads").owner_id == dev.pk
    assert make_lead(source="facebook_ads", name="Other").owner_id == dev.pk
    assert make_lead(source="api", name="Third").owner_id in {bob_member.pk, dev.pk}


def test_an_explicit_owner_wins_over_the_rule(world, alice, make_lead):
    _member(world, "dev@a.example")
    _rules(world, alice, mode=AssignmentSettings.Mode.ROUND_ROBIN)
    with workspace_scope(world.a):
        alice_member = Membership.objects.get(user=world.alice)

    assert make_lead(owner=alice_member).owner_id == alice_member.pk
    assert round_robin_position(workspace=world.a) == 0
    assert make_lead(name="Next").owner_id is not None


def test_mode_none_leaves_new_leads_unassigned(world, alice, make_lead):
    assert make_lead().owner_id is None


def test_settings_changes_are_audited_without_personal_data(world, alice):
    dev = _member(world, "dev@a.example")
    _rules(world, alice, mode=AssignmentSettings.Mode.BY_SOURCE, pool=True, sources={"api": dev})

    with workspace_scope(world.a):
        event = AuditEvent.objects.filter(action="assignment_settings_updated").get()
    assert event.metadata["fields"] == ["mode", "sales_see_unassigned_pool", "sources"]
    assert event.metadata["sources"] == ["api"]
    assert "dev@a.example" not in str(event.metadata)


def test_sales_see_the_unassigned_pool_only_when_it_is_open(world, alice, bob_member, make_lead):
    lead = make_lead()
    bob = Viewer(role=Role.SALES, member_id=bob_member.pk)
    with workspace_scope(world.a):
        assert not visible_leads(viewer=bob).filter(pk=lead.pk).exists()

    _rules(world, alice, mode=AssignmentSettings.Mode.NONE, pool=True)

    with workspace_scope(world.a):
        assert visible_leads(viewer=bob).filter(pk=lead.pk).exists()


def test_sales_take_a_lead_from_the_open_pool(client, world, alice, bob_member, make_lead):
    lead = make_lead()
    client.login(email=world.bob.email, password=PASSWORD)
    assert client.get(_url("detail", world, lead_id=lead.pk)).status_code == 404

    _rules(world, alice, mode=AssignmentSettings.Mode.NONE, pool=True)
    page = client.get(_url("detail", world, lead_id=lead.pk)).content.decode()
    assert "Take this lead" in page
    assert lead.name in client.get(_url("list", world)).content.decode()

    response = client.post(_url("take", world, lead_id=lead.pk))

    assert response.status_code == 302
    with workspace_scope(world.a):
        lead.refresh_from_db()
        taken = TimelineEvent.objects.get(lead=lead, kind=TimelineEvent.Kind.ASSIGNED)
    assert lead.owner_id == bob_member.pk
    assert taken.data["to"] == str(bob_member.pk)
    # Taken leads leave the pool: a second take is refused.
    second = client.post(_url("take", world, lead_id=lead.pk), follow=True)
    assert "Somebody else took this lead first" in second.content.decode()


def test_sales_cannot_take_from_a_closed_pool(client, world, make_lead):
    lead = make_lead()
    client.login(email=world.bob.email, password=PASSWORD)

    assert client.post(_url("take", world, lead_id=lead.pk)).status_code == 404
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).owner_id is None


def test_the_settings_page_saves_the_rules(client, world, bob_member):
    client.login(email=world.alice.email, password=PASSWORD)
    assert client.get(_url("assignment", world)).status_code == 200

    response = client.post(
        _url("assignment", world),
        {"mode": "by_source", "sales_see_unassigned_pool": "on", "source_api": str(bob_member.pk)},
    )

    assert response.status_code == 302
    assert assignment.source_assignments(workspace=world.a) == {"api": bob_member.pk}
    assert assignment.assignment_settings_get(workspace=world.a).sales_see_unassigned_pool


def test_sales_may_not_open_the_settings_page(client, world):
    client.login(email=world.bob.email, password=PASSWORD)
    assert client.get(_url("assignment", world)).status_code == 403


def test_charlie_gets_404_on_alices_settings_page(client, world):
    client.login(email=world.charlie.email, password=PASSWORD)
    assert client.get(_url("assignment", world)).status_code == 404
    assert client.post(_url("assignment", world), {"mode": "round_robin"}).status_code == 404
    assert not AssignmentSettings.objects.unscoped().filter(workspace=world.a).exists()


def test_charlie_cannot_map_a_source_to_alices_member(world, charlie, bob_member):
    with pytest.raises(ValidationError, match="sources"):
        assignment_settings_update(
            workspace=world.b,
            actor=charlie,
            mode="by_source",
            sales_see_unassigned_pool=False,
            source_members={"api": bob_member},
        )


def test_sales_may_not_change_the_rules(world):
    with pytest.raises(PermissionDenied):
        _rules(world, Actor.user("x", role=Role.SALES), mode="round_robin")
