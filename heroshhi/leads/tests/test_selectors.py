"""Reading leads: search through blind indexes, filters, hostile filters, keyset pages,
the sales scope, the trash, and a query count that does not grow with the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone

from heroshhi.leads.access import access_lead
from heroshhi.leads.selectors import LeadFilters, Viewer, leads_list, parse_lead_filters
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.services.trash import lead_restore, lead_trash
from heroshhi.leads.tests.conftest import EMAIL, PHONE

pytestmark = pytest.mark.django_db


def _owner() -> Viewer:
    return Viewer(role="owner", member_id=None)


def _ids(world, filters=None, viewer=None, **kwargs):
    page = leads_list(
        workspace=world.a, viewer=viewer or _owner(), filters=filters or LeadFilters(), **kwargs
    )
    return {lead.pk for lead in page.items}


def _search(world, q):
    return _ids(world, parse_lead_filters({"q": q}))


def test_search_finds_a_lead_by_one_word_of_its_name_in_any_case(world, make_lead):
    priya = make_lead(name="Priya Sharma")
    make_lead(name="Rahul Verma")
    assert _search(world, "sharma") == {priya.pk}
    assert _search(world, "PRIYA") == {priya.pk}


def test_every_word_of_a_name_search_must_match(world, make_lead):
    priya = make_lead(name="Priya Sharma")
    make_lead(name="Priya Verma")
    assert _search(world, "priya sharma") == {priya.pk}


@pytest.mark.parametrize("typed", ["98765 43210", "098765-43210", "919876543210"])
def test_search_finds_a_lead_by_a_differently_formatted_phone(world, make_lead, typed):
    lead = make_lead(phone="+91 98765 43210")
    make_lead(name="Rahul", phone="+919812345678")
    assert _search(world, typed) == {lead.pk}


def test_search_finds_a_lead_by_email_in_any_case(world, make_lead):
    lead = make_lead(email=EMAIL)
    assert _search(world, EMAIL.upper()) == {lead.pk}


def test_filters_by_stage_owner_source_tag_and_date(world, make_lead, alice, bob_member):
    stages = stages_ensure_defaults(workspace=world.a)
    hot = make_lead(name="A", tags=["Hot"], source="facebook_ads", stage=stages[1])
    mine = make_lead(name="B", owner=bob_member)
    plain = make_lead(name="C")
    assert _ids(world, LeadFilters(stage=stages[1].pk)) == {hot.pk}
    assert _ids(world, LeadFilters(owner=bob_member.pk)) == {mine.pk}
    assert _ids(world, LeadFilters(owner="unassigned")) == {hot.pk, plain.pk}
    assert _ids(world, LeadFilters(source="facebook_ads")) == {hot.pk}
    assert _ids(world, parse_lead_filters({"tag": " HOT "})) == {hot.pk}
    today = timezone.localdate()
    assert len(_ids(world, LeadFilters(created_from=today, created_to=today))) == 3
    assert _ids(world, LeadFilters(created_to=today - timedelta(days=1))) == set()


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"stage__in": "x"}, "stage__in"),
        ({"name": "Priya"}, "name"),
        ({"$where": "1"}, "filters"),
        ({"owner": "$gt"}, "owner"),
        ({"q": "deleted_at__isnull"}, "q"),
        ({"stage": {"$ne": None}}, "stage"),
        ({"source": ["api", "manual"]}, "source"),
        ({"stage": "not-a-uuid"}, "stage"),
        ({"source": "pigeon"}, "source"),
        ({"created_from": "yesterday"}, "created_from"),
    ],
)
def test_hostile_or_unknown_filters_are_refused_naming_the_filter(raw, named):
    with pytest.raises(ValidationError) as caught:
        parse_lead_filters(raw)
    assert list(caught.value.message_dict) == [named]


def test_a_tampered_cursor_is_refused(world):
    with pytest.raises(ValidationError) as caught:
        _ids(world, after="bm90LWEtY3Vyc29y")
    assert list(caught.value.message_dict) == ["cursor"]


def test_keyset_pages_cover_every_lead_once_newest_first(world, make_lead):
    made = [make_lead(name=f"Lead {n}").pk for n in range(7)]
    seen, cursor = [], None
    while True:
        page = leads_list(
            workspace=world.a, viewer=_owner(), filters=LeadFilters(), after=cursor, limit=3
        )
        seen += [lead.pk for lead in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_sales_see_only_their_own_leads(world, make_lead, bob, bob_member):
    own = make_lead(actor=bob)
    others = make_lead(name="Alice's lead")
    viewer = Viewer(role="sales", member_id=bob_member.pk)
    assert _ids(world, viewer=viewer) == {own.pk}
    with pytest.raises(Http404):
        access_lead(workspace=world.a, actor_role="sales", member_id=bob_member.pk, uid=others.pk)
    # A sales API key belongs to no member, so it sees nothing.
    assert _ids(world, viewer=Viewer(role="sales", member_id=None)) == set()


def test_access_gives_the_same_404_for_missing_foreign_and_malformed_ids(world, make_lead, charlie):
    theirs = make_lead(workspace=world.b, actor=charlie)
    for uid in (theirs.pk, "1 OR 1=1", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(Http404):
            access_lead(workspace=world.a, actor_role="owner", member_id=None, uid=uid)


def test_trash_hides_a_lead_from_list_search_and_access_until_restored(world, make_lead, alice):
    lead = make_lead(phone=PHONE)
    lead_trash(workspace=world.a, actor=alice, lead=lead)
    assert _ids(world) == set()
    assert _search(world, PHONE) == set()
    with pytest.raises(Http404):
        access_lead(workspace=world.a, actor_role="owner", member_id=None, uid=lead.pk)
    assert _ids(world, LeadFilters(trashed=True)) == {lead.pk}
    lead_restore(workspace=world.a, actor=alice, lead=lead)
    assert _ids(world) == {lead.pk}
    assert _search(world, PHONE) == {lead.pk}


def test_a_page_of_50_leads_takes_two_queries(
    world, make_lead, bob_member, django_assert_num_queries
):
    for n in range(55):
        make_lead(name=f"Lead {n}", tags=["hot", f"batch-{n % 3}"], owner=bob_member)
    with django_assert_num_queries(2):  # leads with stage and owner, then their tags
        page = leads_list(workspace=world.a, viewer=_owner(), filters=LeadFilters(), limit=50)
        rows = [
            (lead.stage.name, getattr(lead.owner, "user", None), lead.listed_tags)
            for lead in page.items
        ]
    assert len(rows) == 50
    assert all(user == world.bob for _stage, user, _tags in rows)
    assert all([tag.name for tag in tags][1:] == ["hot"] for _stage, _user, tags in rows)
    assert page.next_cursor is not None
