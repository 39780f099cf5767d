"""Restriction (a flag that keeps the data and stops its use), lifting it (audited), the
lead page banner, and objections: marketing → opt-out, analytics → excluded."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import PASSWORD, World
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.leads.services.leads import lead_create
from heroshhi.messaging import optout
from heroshhi.privacy import selectors
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.objection import lead_object
from heroshhi.privacy.services.requests import privacy_request_complete, privacy_request_create
from heroshhi.privacy.services.restriction import lead_restrict, lead_unrestrict
from heroshhi.privacy.tests.conftest import PHONE


@pytest.fixture
def lead(world: World, alice: Actor):
    return lead_create(
        workspace=world.a, actor=alice, name="Kiran", phone=PHONE, email=None, source="manual"
    ).lead


def test_restricting_sets_the_flag_and_lifting_clears_it_both_audited(world, alice, lead):
    assert selectors.is_restricted(workspace=world.a, lead=lead) is False
    lead_restrict(workspace=world.a, actor=alice, lead=lead)
    assert selectors.is_restricted(workspace=world.a, lead=lead) is True
    assert selectors.is_analytics_excluded(workspace=world.a, lead=lead) is True
    # Restricting again changes nothing and writes no second event.
    lead_restrict(workspace=world.a, actor=alice, lead=lead)
    lead_unrestrict(workspace=world.a, actor=alice, lead=lead)
    assert selectors.is_restricted(workspace=world.a, lead=lead) is False
    events = list(
        AuditEvent.objects.filter(
            target_id=str(lead.pk), action__in=["lead_restricted", "lead_restriction_lifted"]
        )
        .order_by("seq")
        .values_list("action", "reason")
    )
    assert events == [
        ("lead_restricted", "restricted"),
        ("lead_restriction_lifted", "restriction_lifted"),
    ]
    # A new period can start after a lift.
    lead_restrict(workspace=world.a, actor=alice, lead=lead)
    assert selectors.is_restricted(workspace=world.a, lead=lead) is True


def test_restriction_is_per_workspace(world, alice, lead):
    lead_restrict(workspace=world.a, actor=alice, lead=lead)
    # Asked from another workspace's scope, the lead is not found there: not restricted.
    assert selectors.is_restricted(workspace=world.b, lead=lead) is False


def test_a_restriction_request_is_answered_by_restricting(world, alice, lead):
    request = privacy_request_create(
        workspace=world.a, actor=alice, type="restriction", lead=lead, channel="dashboard"
    )
    with pytest.raises(ValidationError):
        privacy_request_complete(workspace=world.a, actor=alice, request=request)
    lead_restrict(workspace=world.a, actor=alice, lead=lead, request=request)
    privacy_request_complete(workspace=world.a, actor=alice, request=request)
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.COMPLETED
    assert "restricted_at" in request.outcome


def test_an_action_refuses_a_request_of_another_type(world, alice, lead):
    request = privacy_request_create(
        workspace=world.a, actor=alice, type="access", lead=lead, channel="dashboard"
    )
    with pytest.raises(ValidationError):
        lead_restrict(workspace=world.a, actor=alice, lead=lead, request=request)
    assert selectors.is_restricted(workspace=world.a, lead=lead) is False


def test_the_lead_page_shows_a_banner_while_restricted(client, world, alice, lead):
    url = reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": lead.pk})
    client.login(email=world.alice.email, password=PASSWORD)
    assert b"data-restricted-banner" not in client.get(url).content
    lead_restrict(workspace=world.a, actor=alice, lead=lead)
    page = client.get(url)
    assert b"data-restricted-banner" in page.content
    assert b"Lift restriction" in page.content


def test_sales_see_the_banner_but_no_privacy_actions(client, world, alice, lead, bob):
    from heroshhi.core.tenancy import workspace_scope
    from heroshhi.leads.services.leads import lead_update
    from heroshhi.workspaces.models import Membership

    with workspace_scope(world.a):
        bob_member = Membership.objects.get(user=world.bob)
    lead_update(workspace=world.a, actor=alice, lead=lead, owner=bob_member)
    lead_restrict(workspace=world.a, actor=alice, lead=lead)
    client.login(email=world.bob.email, password=PASSWORD)
    page = client.get(reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": lead.pk}))
    assert page.status_code == 200
    assert b"data-restricted-banner" in page.content
    assert b"Lift restriction" not in page.content
    lift = reverse("privacy:lead_unrestrict", kwargs={"slug": world.a.slug, "lead_id": lead.pk})
    assert client.post(lift).status_code == 403
    assert selectors.is_restricted(workspace=world.a, lead=lead) is True


def test_objection_to_marketing_opts_the_contact_out(world, alice, lead):
    request = privacy_request_create(
        workspace=world.a,
        actor=alice,
        type="objection",
        scope="marketing",
        lead=lead,
        channel="email",
    )
    lead_object(workspace=world.a, actor=alice, lead=lead, scope="marketing", request=request)
    assert optout.lead_is_opted_out(workspace=world.a, lead=lead) is True
    assert optout.ledger_for_lead(workspace=world.a, lead=lead)[0].method == "manual"
    privacy_request_complete(workspace=world.a, actor=alice, request=request)


def test_objection_to_analytics_excludes_the_lead_but_keeps_messaging(world, alice, lead):
    lead_object(workspace=world.a, actor=alice, lead=lead, scope="analytics")
    assert selectors.is_analytics_excluded(workspace=world.a, lead=lead) is True
    assert selectors.is_restricted(workspace=world.a, lead=lead) is False
    assert optout.lead_is_opted_out(workspace=world.a, lead=lead) is False


def test_an_objection_needs_a_scope(world, alice, lead):
    with pytest.raises(ValidationError) as error:
        privacy_request_create(
            workspace=world.a, actor=alice, type="objection", lead=lead, channel="email"
        )
    assert "scope" in error.value.message_dict
    with pytest.raises(ValidationError):
        privacy_request_create(
            workspace=world.a,
            actor=alice,
            type="access",
            scope="marketing",
            lead=lead,
            channel="email",
        )
