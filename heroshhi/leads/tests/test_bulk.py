"""Bulk actions on the leads list: assign, stage, tag and trash many leads at once, for
owners and managers only, never reaching across workspaces."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services.stages import stages_ensure_defaults

pytestmark = pytest.mark.django_db


def _bulk_url(workspace):
    return reverse("leads:bulk", kwargs={"slug": workspace.slug})


def _login(client, user):
    client.login(email=user.email, password=PASSWORD)


def _leads(make_lead, count=3, **kwargs):
    return [make_lead(name=f"Lead {i}", **kwargs) for i in range(count)]


def _ids(leads):
    return [str(lead.pk) for lead in leads]


def _events(workspace, leads, kind):
    with workspace_scope(workspace):
        return TimelineEvent.objects.filter(lead__in=leads, kind=kind).count()


def _reload(workspace, leads):
    with workspace_scope(workspace):
        return list(Lead.objects.filter(pk__in=[lead.pk for lead in leads]).order_by("name"))


def test_assign_moves_every_selected_lead_with_timeline(client, world, make_lead, bob_member):
    leads = _leads(make_lead)
    _login(client, world.alice)
    response = client.post(
        _bulk_url(world.a), {"lead": _ids(leads), "action": "assign", "member": bob_member.pk}
    )
    assert response.status_code == 302
    assert response.url == reverse("leads:list", kwargs={"slug": world.a.slug})
    assert all(lead.owner_id == bob_member.pk for lead in _reload(world.a, leads))
    assert _events(world.a, leads, TimelineEvent.Kind.ASSIGNED) == 3
    page = client.get(response.url).content.decode()
    assert "3 leads updated" in page


def test_stage_moves_every_selected_lead(client, world, make_lead):
    leads = _leads(make_lead)
    stage = stages_ensure_defaults(workspace=world.a)[2]
    _login(client, world.alice)
    client.post(_bulk_url(world.a), {"lead": _ids(leads), "action": "stage", "stage": stage.pk})
    assert all(lead.stage_id == stage.pk for lead in _reload(world.a, leads))
    assert _events(world.a, leads, TimelineEvent.Kind.STAGE_CHANGED) == 3


def test_tag_is_added_and_existing_tags_stay(client, world, make_lead):
    leads = _leads(make_lead, tags=["old"])
    _login(client, world.alice)
    response = client.post(
        _bulk_url(world.a), {"lead": _ids(leads), "action": "tag", "tag": " Hot "}, follow=True
    )
    assert "3 leads updated" in response.content.decode()
    for lead in _reload(world.a, leads):
        with workspace_scope(world.a):
            assert sorted(tag.name for tag in lead.tags.all()) == ["hot", "old"]
    assert _events(world.a, leads, TimelineEvent.Kind.UPDATED) == 3
    # Tagging again changes nothing.
    again = client.post(
        _bulk_url(world.a), {"lead": _ids(leads), "action": "tag", "tag": "hot"}, follow=True
    )
    assert "0 leads updated" in again.content.decode()


def test_trash_moves_every_selected_lead_to_the_trash(client, world, make_lead):
    leads = _leads(make_lead)
    keep = make_lead(name="Keep me")
    _login(client, world.alice)
    client.post(_bulk_url(world.a), {"lead": _ids(leads), "action": "trash"})
    assert all(lead.deleted_at is not None for lead in _reload(world.a, leads))
    assert _reload(world.a, [keep])[0].deleted_at is None
    assert _events(world.a, leads, TimelineEvent.Kind.DELETED) == 3


def test_select_all_on_this_page_takes_every_row(client, world, make_lead):
    leads = _leads(make_lead)
    stage = stages_ensure_defaults(workspace=world.a)[1]
    _login(client, world.alice)
    client.post(
        _bulk_url(world.a),
        {"page_lead": _ids(leads), "all_page": "1", "action": "stage", "stage": stage.pk},
    )
    assert all(lead.stage_id == stage.pk for lead in _reload(world.a, leads))


def test_page_lead_without_select_all_is_ignored(client, world, make_lead):
    leads = _leads(make_lead)
    _login(client, world.alice)
    client.post(_bulk_url(world.a), {"page_lead": _ids(leads), "action": "trash"})
    assert all(lead.deleted_at is None for lead in _reload(world.a, leads))


def test_the_list_shows_the_bar_to_owners_only(client, world, make_lead, bob_member):
    make_lead(owner=bob_member)
    _login(client, world.alice)
    page = client.get(reverse("leads:list", kwargs={"slug": world.a.slug})).content.decode()
    assert 'id="bulk"' in page
    assert 'form="bulk" name="lead"' in page
    assert 'name="all_page"' in page
    client.logout()
    _login(client, world.bob)
    page = client.get(reverse("leads:list", kwargs={"slug": world.a.slug})).content.decode()
    assert 'id="bulk"' not in page
    assert 'name="lead"' not in page


@pytest.mark.parametrize("action", ["assign", "stage", "tag", "trash"])
def test_sales_get_403(client, world, make_lead, bob_member, action):
    leads = _leads(make_lead, owner=bob_member)
    stage = stages_ensure_defaults(workspace=world.a)[2]
    _login(client, world.bob)
    response = client.post(
        _bulk_url(world.a),
        {
            "lead": _ids(leads),
            "action": action,
            "member": bob_member.pk,
            "stage": stage.pk,
            "tag": "x",
        },
    )
    assert response.status_code == 403
    reloaded = _reload(world.a, leads)
    assert all(lead.deleted_at is None and lead.stage_id != stage.pk for lead in reloaded)


def test_alice_submitting_charlies_ids_changes_nothing_of_b(client, world, make_lead, charlie):
    mine = _leads(make_lead, count=2)
    theirs = _leads(make_lead, count=2, workspace=world.b, actor=charlie)
    _login(client, world.alice)
    response = client.post(
        _bulk_url(world.a), {"lead": _ids(mine + theirs), "action": "trash"}, follow=True
    )
    assert "2 leads updated" in response.content.decode()
    assert all(lead.deleted_at is None for lead in _reload(world.b, theirs))
    assert all(lead.deleted_at is not None for lead in _reload(world.a, mine))
    assert _events(world.b, theirs, TimelineEvent.Kind.DELETED) == 0


def test_charlie_posting_alices_ids_to_his_workspace_changes_nothing(client, world, make_lead):
    leads = _leads(make_lead)
    stage_b = stages_ensure_defaults(workspace=world.b)[3]
    _login(client, world.charlie)
    for data in ({"action": "trash"}, {"action": "stage", "stage": stage_b.pk}):
        response = client.post(_bulk_url(world.b), {"lead": _ids(leads), **data}, follow=True)
        assert "0 leads updated" in response.content.decode()
    reloaded = _reload(world.a, leads)
    assert all(lead.deleted_at is None and lead.stage_id != stage_b.pk for lead in reloaded)
    assert _events(world.a, leads, TimelineEvent.Kind.DELETED) == 0


def test_charlie_on_alices_url_gets_404(client, world, make_lead):
    leads = _leads(make_lead)
    _login(client, world.charlie)
    response = client.post(_bulk_url(world.a), {"lead": _ids(leads), "action": "trash"})
    assert response.status_code == 404
    assert all(lead.deleted_at is None for lead in _reload(world.a, leads))


def test_more_than_200_ids_is_a_400(client, world, make_lead):
    lead = make_lead()
    ids = [str(uuid.uuid4()) for _ in range(200)] + [str(lead.pk)]
    _login(client, world.alice)
    response = client.post(_bulk_url(world.a), {"lead": ids, "action": "trash"})
    assert response.status_code == 400
    assert "at most 200" in response.content.decode()
    assert _reload(world.a, [lead])[0].deleted_at is None


def test_a_malformed_id_is_a_400(client, world, make_lead):
    lead = make_lead()
    _login(client, world.alice)
    response = client.post(
        _bulk_url(world.a), {"lead": [str(lead.pk), "not-a-uuid"], "action": "trash"}
    )
    assert response.status_code == 400
    assert "invalid lead id" in response.content.decode()
    assert _reload(world.a, [lead])[0].deleted_at is None


def test_an_unknown_action_is_a_400(client, world, make_lead):
    lead = make_lead()
    _login(client, world.alice)
    response = client.post(_bulk_url(world.a), {"lead": [str(lead.pk)], "action": "purge"})
    assert response.status_code == 400
    assert "Unknown bulk action." in response.content.decode()


def test_a_foreign_stage_is_refused_with_a_message(client, world, make_lead):
    leads = _leads(make_lead)
    stage_b = stages_ensure_defaults(workspace=world.b)[3]
    _login(client, world.alice)
    response = client.post(
        _bulk_url(world.a),
        {"lead": _ids(leads), "action": "stage", "stage": stage_b.pk},
        follow=True,
    )
    assert "Choose a valid option." in response.content.decode()
    assert all(lead.stage_id != stage_b.pk for lead in _reload(world.a, leads))
