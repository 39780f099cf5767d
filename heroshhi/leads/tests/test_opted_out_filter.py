"""The "opted out" list filter: leads whose contact's newest opt-out record (by phone, or by
the WhatsApp user id of a contact who hid their number) says opted out."""

from __future__ import annotations

import pytest
from django.urls import reverse

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.selectors import LeadFilters, leads_list, parse_lead_filters, viewer_for
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.messaging.optout import lead_opt_in, lead_opt_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(world, alice, make_lead):
    """Opted out; opted out then back in; never asked; and one without a phone."""
    out = make_lead(name="Out Lead", phone="+919800000001")
    back = make_lead(name="Back Lead", phone="+919800000002")
    never = make_lead(name="Never Lead", phone="+919800000003")
    no_phone = make_lead(name="No Phone", email="nophone@example.in")
    lead_opt_out(workspace=world.a, actor=alice, lead=out)
    lead_opt_out(workspace=world.a, actor=alice, lead=back)
    lead_opt_in(workspace=world.a, actor=alice, lead=back)
    return out, back, never, no_phone


def _ids(world, alice, filters):
    with workspace_scope(world.a):
        viewer = viewer_for(actor=alice)
    page = leads_list(workspace=world.a, viewer=viewer, filters=filters)
    return {lead.pk for lead in page.items}


def test_only_leads_whose_newest_record_is_opted_out_match(world, alice, three):
    out, back, never, no_phone = three
    assert _ids(world, alice, LeadFilters(opted_out=True)) == {out.pk}
    assert _ids(world, alice, LeadFilters()) == {out.pk, back.pk, never.pk, no_phone.pk}
    lead_opt_in(workspace=world.a, actor=alice, lead=out)
    lead_opt_out(workspace=world.a, actor=alice, lead=never)
    assert _ids(world, alice, LeadFilters(opted_out=True)) == {never.pk}


def test_a_contact_known_only_by_whatsapp_user_id_is_found_too(world, alice, make_lead, three):
    from heroshhi.messaging import optout
    from heroshhi.messaging.models import Conversation
    from heroshhi.messaging.tests.conftest import make_channel

    hidden = make_lead(name="Hidden Number", email="hidden@example.in")
    channel = make_channel(world.a)
    user_id = "IN.13491208655302741918"
    keys = optout.contact_keys(workspace=world.a, wa_user=user_id)
    with workspace_scope(world.a):
        Conversation.objects.create(
            workspace=world.a,
            lead=hidden,
            channel=channel,
            wa_user_id=user_id,
            wa_user_bidx=keys.wa_user_bidx,
        )
    optout.record_from_contact(
        workspace=world.a,
        channel=channel,
        phone=None,
        wa_user=user_id,
        opt_out=True,
        method="whatsapp",
        trigger="user_preferences:stop",
        event_key="pref:hidden",
    )

    assert _ids(world, alice, LeadFilters(opted_out=True)) == {three[0].pk, hidden.pk}


def test_the_filter_parses_from_input_and_combines_with_search(world, alice, three):
    out = three[0]
    assert parse_lead_filters({"opted_out": "1"}).opted_out is True
    assert parse_lead_filters({"opted_out": ""}).opted_out is False
    assert _ids(world, alice, parse_lead_filters({"opted_out": "1", "q": "Out"})) == {out.pk}
    assert _ids(world, alice, parse_lead_filters({"opted_out": "1", "q": "Never"})) == set()


def test_another_workspaces_ledger_does_not_count(world, alice, charlie, make_lead, three):
    # Charlie's contact with the same number opted out in B; A's lead stays as it was.
    same = make_lead(name="Same number", phone="+919800000003", workspace=world.b, actor=charlie)
    lead_opt_out(workspace=world.b, actor=charlie, lead=same)
    assert _ids(world, alice, LeadFilters(opted_out=True)) == {three[0].pk}


def test_a_filtered_page_of_50_still_takes_two_queries(
    world, alice, make_lead, django_assert_num_queries
):
    for n in range(55):
        lead = make_lead(name=f"Lead {n}", phone=f"+9198100{n:05d}", tags=["hot"])
        lead_opt_out(workspace=world.a, actor=alice, lead=lead)
    with workspace_scope(world.a):
        viewer = viewer_for(actor=alice)
    with django_assert_num_queries(2):
        page = leads_list(workspace=world.a, viewer=viewer, filters=LeadFilters(opted_out=True))
        [lead.listed_tags for lead in page.items]
    assert len(page.items) == 50


def test_api_list_search_and_list_page_take_the_filter(client, world, alice, three):
    out = three[0]
    key = issue_key(world.a)
    listed = client.get("/api/v1/leads", {"opted_out": "1"}, **key)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [str(out.pk)]
    searched = client.post(
        "/api/v1/leads/search", {"opted_out": True}, content_type="application/json", **key
    )
    assert [item["id"] for item in searched.json()["items"]] == [str(out.pk)]

    client.force_login(world.alice)
    url = reverse("leads:list", kwargs={"slug": world.a.slug})
    page = client.get(url)
    assert 'name="opted_out"' in page.content.decode()
    filtered = client.post(url, {"opted_out": "on"})
    assert filtered.status_code == 200
    html = filtered.content.decode()
    assert "Out Lead" in html
    assert "Back Lead" not in html
    assert "Never Lead" not in html


def test_the_filter_goes_by_when_the_contact_acted_not_by_arrival(world, alice, three):
    """A START written before the contact's STOP but delivered after it leaves them out."""
    from datetime import timedelta

    from django.utils import timezone

    from heroshhi.messaging import optout
    from heroshhi.messaging.models import OptOutRecord

    out, back, _never, _no_phone = three
    late = dict(workspace=world.a, channel=None, phone=back.phone, wa_user=None)
    optout.record_from_contact(
        **late,
        opt_out=True,
        method=OptOutRecord.Method.KEYWORD,
        trigger="stop",
        occurred_at=timezone.now() + timedelta(minutes=1),
    )
    optout.record_from_contact(
        **late,
        opt_out=False,
        method=OptOutRecord.Method.KEYWORD,
        trigger="start",
        occurred_at=timezone.now() - timedelta(minutes=1),
    )
    assert _ids(world, alice, LeadFilters(opted_out=True)) == {out.pk, back.pk}
    assert optout.opted_out_phone_indexes(
        workspace=world.a, phone_bidxs=[out.phone_bidx, back.phone_bidx]
    ) == {out.phone_bidx, back.phone_bidx}
