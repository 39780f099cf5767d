"""The lead pages: list, search by POST, create with inline errors, detail, trash, restore,
and who gets a 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.tests.conftest import NAME, PHONE

pytestmark = pytest.mark.django_db


def _url(name, world, **kwargs):
    return reverse(f"leads:{name}", kwargs={"slug": world.a.slug, **kwargs})


def _login(client, user):
    client.login(email=user.email, password=PASSWORD)


def test_the_list_shows_an_empty_state_then_leads(client, world, make_lead):
    _login(client, world.alice)
    assert "No leads yet" in client.get(_url("list", world)).content.decode()
    make_lead(phone=PHONE)
    page = client.get(_url("list", world)).content.decode()
    assert NAME in page
    assert "leads.css" in page


def test_search_is_posted_so_the_term_stays_out_of_the_url(client, world, make_lead):
    make_lead(phone=PHONE)
    make_lead(name="Rahul Verma")
    _login(client, world.alice)
    page = client.post(_url("list", world), {"q": "098765-43210"}).content.decode()
    assert NAME in page
    assert "Rahul" not in page
    refused = client.get(_url("list", world), {"q": "priya"}).content.decode()
    assert "Unknown filter." in refused


def test_create_shows_inline_field_errors(client, world):
    _login(client, world.alice)
    response = client.post(_url("create", world), {"name": NAME, "phone": "12", "source": "manual"})
    assert response.status_code == 400
    assert "Enter a valid phone number." in response.content.decode()


def test_create_then_detail_with_timeline_and_note(client, world):
    _login(client, world.alice)
    response = client.post(
        _url("create", world),
        {"name": NAME, "phone": "98765 43210", "source": "manual", "tags": "hot, pune"},
    )
    with workspace_scope(world.a):
        lead = Lead.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("detail", world, lead_id=lead.pk)
    client.post(_url("note_add", world, lead_id=lead.pk), {"body": "Wants a site visit"})
    page = client.get(_url("detail", world, lead_id=lead.pk)).content.decode()
    assert "Wants a site visit" in page
    assert page.index("Created") < page.index("Note added")


def test_a_stage_move_from_the_detail_page_shows_in_the_timeline(client, world, make_lead):
    lead = make_lead()
    _login(client, world.alice)
    page = client.get(_url("detail", world, lead_id=lead.pk)).content.decode()
    assert "Pipeline" in page
    won = stages_ensure_defaults(workspace=world.a)[3]
    client.post(_url("edit", world, lead_id=lead.pk), {"stage": str(won.pk), "tags": ""})
    page = client.get(_url("detail", world, lead_id=lead.pk)).content.decode()
    assert "New → Won" in page


def test_bob_sees_only_his_leads_and_gets_404_for_others(client, world, make_lead, bob):
    own = make_lead(name="Bob Lead", actor=bob)
    other = make_lead(name="Alice Lead")
    _login(client, world.bob)
    page = client.get(_url("list", world)).content.decode()
    assert "Bob Lead" in page
    assert "Alice Lead" not in page
    assert client.get(_url("detail", world, lead_id=other.pk)).status_code == 404
    assert client.post(_url("delete", world, lead_id=other.pk)).status_code == 404
    assert client.get(_url("detail", world, lead_id=own.pk)).status_code == 200


def test_charlie_gets_404_on_alices_lead_pages(client, world, make_lead):
    lead = make_lead()
    _login(client, world.charlie)
    assert client.get(_url("list", world)).status_code == 404
    assert client.get(_url("detail", world, lead_id=lead.pk)).status_code == 404


def test_trash_and_restore_from_the_pages(client, world, make_lead):
    lead = make_lead()
    _login(client, world.alice)
    client.post(_url("delete", world, lead_id=lead.pk))
    assert NAME not in client.get(_url("list", world)).content.decode()
    assert NAME in client.get(_url("trash", world)).content.decode()
    assert client.get(_url("detail", world, lead_id=lead.pk)).status_code == 404
    response = client.post(_url("restore", world, lead_id=lead.pk))
    assert response.status_code == 302
    assert NAME in client.get(_url("list", world)).content.decode()
