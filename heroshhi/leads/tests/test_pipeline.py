"""Pipeline settings (stages) and the kanban board."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Stage, TimelineEvent
from heroshhi.leads.selectors import Viewer
from heroshhi.leads.selectors_board import leads_board
from heroshhi.leads.services.stages import (
    stage_create,
    stage_delete,
    stage_move,
    stage_rename,
    stages_ensure_defaults,
)
from heroshhi.leads.services.trash import lead_trash

pytestmark = pytest.mark.django_db


def _url(name, world, **kwargs):
    return reverse(f"leads:{name}", kwargs={"slug": world.a.slug, **kwargs})


def _names(world):
    return [s.name for s in stages_ensure_defaults(workspace=world.a)]


def test_a_new_stage_goes_last_and_is_audited(world, alice):
    stage = stage_create(workspace=world.a, actor=alice, name="  Site   visit ", kind="open")
    assert stage.name == "Site visit"
    assert _names(world)[-1] == "Site visit"
    event = AuditEvent.objects.filter(action="stage_created").get()
    assert event.target_id == str(stage.pk)


def test_stage_names_are_unique_ignoring_case(world, alice):
    with pytest.raises(ValidationError) as exc:
        stage_create(workspace=world.a, actor=alice, name="won", kind="won")
    assert "name" in exc.value.message_dict


def test_rename_and_change_kind(world, alice):
    stage = stages_ensure_defaults(workspace=world.a)[2]
    stage_rename(workspace=world.a, actor=alice, stage=stage, name="Hot", kind="won")
    with workspace_scope(world.a):
        stage.refresh_from_db()
    assert (stage.name, stage.kind) == ("Hot", "won")
    assert AuditEvent.objects.get(action="stage_updated").metadata == {"fields": ["name", "kind"]}


def test_move_up_and_down_swaps_neighbours(world, alice):
    stages = stages_ensure_defaults(workspace=world.a)
    stage_move(workspace=world.a, actor=alice, stage=stages[1], direction="up")
    assert _names(world)[:2] == ["Contacted", "New"]
    stage_move(workspace=world.a, actor=alice, stage=stages[1], direction="down")
    assert _names(world)[:2] == ["New", "Contacted"]
    # The ends stay put.
    stage_move(workspace=world.a, actor=alice, stage=stages[0], direction="up")
    assert _names(world)[0] == "New"


def test_a_stage_holding_leads_even_in_the_trash_cannot_be_deleted(world, alice, make_lead):
    lead = make_lead()
    lead_trash(workspace=world.a, actor=alice, lead=lead)
    new = stages_ensure_defaults(workspace=world.a)[0]
    with pytest.raises(ValidationError) as exc:
        stage_delete(workspace=world.a, actor=alice, stage=new)
    assert "Move them to another stage first" in exc.value.messages[0]
    empty = stages_ensure_defaults(workspace=world.a)[1]
    stage_delete(workspace=world.a, actor=alice, stage=empty)
    assert "Contacted" not in _names(world)
    assert AuditEvent.objects.filter(action="stage_deleted").count() == 1


def test_sales_cannot_configure_the_pipeline(world, bob, client):
    with pytest.raises(PermissionDenied):
        stage_create(workspace=world.a, actor=bob, name="Mine", kind="open")
    client.login(email=world.bob.email, password=PASSWORD)
    assert client.get(_url("stages", world)).status_code == 403


def test_the_settings_page_adds_reorders_and_refuses_deleting_a_busy_stage(
    client, world, make_lead
):
    make_lead()
    client.login(email=world.alice.email, password=PASSWORD)
    assert "Pipeline stages" in client.get(_url("stages", world)).content.decode()
    response = client.post(_url("stages", world), {"new-name": "Visit", "new-kind": "open"})
    assert response.status_code == 302
    assert _names(world)[-1] == "Visit"
    new = stages_ensure_defaults(workspace=world.a)[0]
    # htmx gets the list back in place.
    response = client.post(
        _url("stage_move", world, stage_id=new.pk),
        {"direction": "down"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert 'id="stage-list"' in response.content.decode()
    assert _names(world)[:2] == ["Contacted", "New"]
    response = client.post(
        _url("stage_delete", world, stage_id=new.pk), headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert "Move them to another stage first" in response.content.decode()


def test_renaming_from_the_page(client, world):
    stage = stages_ensure_defaults(workspace=world.a)[0]
    client.login(email=world.alice.email, password=PASSWORD)
    prefix = f"s{stage.pk.hex[:8]}"
    client.post(
        _url("stage_edit", world, stage_id=stage.pk),
        {f"{prefix}-name": "Fresh", f"{prefix}-kind": "open"},
    )
    assert _names(world)[0] == "Fresh"


def test_the_board_shows_one_column_per_stage_in_constant_queries(client, world, make_lead):
    make_lead(name="Asha", deal_value="1500")
    client.login(email=world.alice.email, password=PASSWORD)
    client.get(_url("board", world))
    with CaptureQueriesContext(connection) as few:
        page = client.get(_url("board", world)).content.decode()
    assert "Asha" in page
    assert "1500" in page
    for name in ("New", "Contacted", "Qualified", "Won", "Lost"):
        assert name in page
    for i in range(8):
        make_lead(name=f"Lead {i}", deal_value=str(i))
    with CaptureQueriesContext(connection) as many:
        client.get(_url("board", world))
    # Key look-ups of the decryption cache aside, the page does not grow with the leads.
    assert _data_queries(many) == _data_queries(few)


def _data_queries(captured):
    return len([q for q in captured.captured_queries if "core_workspacekey" not in q["sql"]])


def test_the_board_selector_takes_two_queries(
    world, make_lead, bob_member, django_assert_num_queries
):
    stages = stages_ensure_defaults(workspace=world.a)
    for n in range(12):
        make_lead(name=f"Lead {n}", owner=bob_member)
    viewer = Viewer(role="owner", member_id=None)
    with django_assert_num_queries(2):  # cards with owners, then the per-stage totals
        columns = leads_board(workspace=world.a, viewer=viewer, stages=stages)
        owners = {card.owner.user.pk for column in columns for card in column.cards if card.owner}
    assert owners == {world.bob.pk}
    assert [c.total for c in columns] == [12, 0, 0, 0, 0]


def test_moving_a_card_writes_a_stage_changed_entry_and_swaps_the_card(client, world, make_lead):
    lead = make_lead()
    won = stages_ensure_defaults(workspace=world.a)[3]
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.post(
        _url("board_move", world, lead_id=lead.pk),
        {"stage": str(won.pk)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.strip().startswith("<article")
    assert f'data-stage="{won.pk}"' in body
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).stage_id == won.pk
        event = TimelineEvent.objects.get(lead=lead, kind="stage_changed")
    assert event.data["to"] == str(won.pk)
    # Without htmx: back to the board.
    lost = stages_ensure_defaults(workspace=world.a)[4]
    response = client.post(_url("board_move", world, lead_id=lead.pk), {"stage": str(lost.pk)})
    assert response.status_code == 302


def test_a_foreign_stage_id_is_refused_on_the_board(client, world, make_lead):
    lead = make_lead()
    theirs = stages_ensure_defaults(workspace=world.b)[3]
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.post(
        _url("board_move", world, lead_id=lead.pk),
        {"stage": str(theirs.pk)},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).stage.name == "New"


def test_sales_see_only_their_leads_on_the_board(client, world, make_lead, bob):
    make_lead(name="Bob Lead", actor=bob)
    other = make_lead(name="Alice Lead")
    client.login(email=world.bob.email, password=PASSWORD)
    page = client.get(_url("board", world)).content.decode()
    assert "Bob Lead" in page
    assert "Alice Lead" not in page
    won = stages_ensure_defaults(workspace=world.a)[3]
    assert (
        client.post(_url("board_move", world, lead_id=other.pk), {"stage": str(won.pk)}).status_code
        == 404
    )


def test_stage_kinds_are_validated(world, alice):
    with pytest.raises(ValidationError):
        stage_create(workspace=world.a, actor=alice, name="Odd", kind="maybe")
    with workspace_scope(world.a):
        assert not Stage.objects.filter(name="Odd").exists()
