"""Writing leads: phone normalisation, dedupe, validation, encryption at rest, timeline,
audit without personal data, and who may touch what."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.utils import timezone

from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, LeadNameToken, Note, TimelineEvent
from heroshhi.leads.services.leads import lead_create, lead_update
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.services.trash import lead_delete_now, lead_restore, lead_trash
from heroshhi.leads.tests.conftest import EMAIL, NAME, PHONE

pytestmark = pytest.mark.django_db


def _timeline_kinds(workspace, lead):
    with workspace_scope(workspace):
        return list(
            TimelineEvent.objects.filter(lead=lead)
            .order_by("created_at", "id")
            .values_list("kind", flat=True)
        )


@pytest.mark.parametrize(
    "typed", ["98765 43210", "098765-43210", "919876543210", "+91 98765 43210"]
)
def test_indian_phone_formats_are_stored_as_one_e164_number(make_lead, typed):
    assert make_lead(phone=typed).phone == PHONE


def test_every_indian_format_of_one_number_dedupes_onto_one_lead(world, make_lead):
    first = make_lead(phone="98765 43210")
    for typed in ("098765-43210", "919876543210", "+91 98765 43210"):
        assert make_lead(phone=typed, name=None).pk == first.pk
    with workspace_scope(world.a):
        assert Lead.objects.count() == 1


def test_international_numbers_are_accepted(make_lead):
    assert make_lead(phone="+44 20 7946 0958").phone == "+442079460958"


@pytest.mark.parametrize("junk", ["12", "not a phone", "+91 12345", "9" * 25])
def test_a_junk_phone_is_refused_with_a_field_error(make_lead, junk):
    with pytest.raises(ValidationError) as caught:
        make_lead(phone=junk)
    assert caught.value.message_dict == {"phone": ["Enter a valid phone number."]}


@pytest.mark.parametrize("junk", ["priya@", "no-at-sign", "a b@example.in"])
def test_a_junk_email_is_refused_with_a_field_error(make_lead, junk):
    with pytest.raises(ValidationError) as caught:
        make_lead(email=junk)
    assert list(caught.value.message_dict) == ["email"]


def test_all_field_errors_are_reported_at_once_without_echoing_values(make_lead):
    with pytest.raises(ValidationError) as caught:
        make_lead(phone="12", email="nope", source="telepathy", deal_value=-5)
    assert set(caught.value.message_dict) == {"phone", "email", "source", "deal_value"}
    assert "nope" not in json.dumps(caught.value.message_dict)


def test_source_details_take_allow_listed_keys_only(make_lead):
    lead = make_lead(source="facebook_ads", source_details={"campaign_id": "123", "ad_id": "9"})
    assert lead.source_details == {"campaign_id": "123", "ad_id": "9"}
    with pytest.raises(ValidationError) as caught:
        make_lead(source_details={"$where": "1"})
    assert list(caught.value.message_dict) == ["source_details"]
    with pytest.raises(ValidationError):
        make_lead(source_details={"campaign_id": {"nested": "object"}})


def test_the_database_row_holds_no_plaintext_personal_data(make_lead):
    make_lead(phone=PHONE, email=EMAIL, description="Wants a 2BHK near Baner")
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, phone, email, description FROM leads_lead")
        row = " ".join(str(value) for value in cursor.fetchone())
    for plaintext in ("Priya", "Sharma", "9876543210", EMAIL, "Baner"):
        assert plaintext not in row


def test_a_repeat_enquiry_fills_empty_fields_and_adds_enquired_again(world, make_lead, alice):
    first = make_lead(phone=PHONE, email=None)
    again = lead_create(
        workspace=world.a,
        actor=alice,
        name="Someone Else",
        phone="98765 43210",
        email=EMAIL,
        source="facebook_ads",
    )
    assert not again.created
    assert again.lead.pk == first.pk
    assert again.lead.name == NAME  # filled fields are never overwritten
    assert again.lead.email == EMAIL
    assert _timeline_kinds(world.a, first) == ["created", "enquired_again"]
    with workspace_scope(world.a):
        event = TimelineEvent.objects.get(kind="enquired_again")
    assert event.data == {"source": "facebook_ads", "fields": ["email"]}


def test_a_trashed_lead_does_not_absorb_a_new_enquiry(world, make_lead, alice):
    first = make_lead(phone=PHONE)
    lead_trash(workspace=world.a, actor=alice, lead=first)
    second = make_lead(phone=PHONE)
    assert second.pk != first.pk


def test_dedupe_is_per_workspace(world, make_lead, charlie):
    mine = make_lead(phone=PHONE)
    theirs = make_lead(phone=PHONE, workspace=world.b, actor=charlie)
    assert mine.pk != theirs.pk


def test_default_stages_are_created_once_in_order(world):
    names = [stage.name for stage in stages_ensure_defaults(workspace=world.a)]
    assert names == ["New", "Contacted", "Qualified", "Won", "Lost"]
    assert len(stages_ensure_defaults(workspace=world.a)) == 5


def test_updates_record_field_names_stage_moves_and_assignment(world, make_lead, alice, bob_member):
    lead = make_lead(phone=PHONE)
    stages = stages_ensure_defaults(workspace=world.a)
    lead_update(
        workspace=world.a,
        actor=alice,
        lead=lead,
        email=EMAIL,
        tags=["Hot", "Pune"],
        stage=stages[2],
        owner=bob_member,
    )
    with workspace_scope(world.a):
        events = {e.kind: e.data for e in TimelineEvent.objects.filter(lead=lead)}
        assert sorted(lead.tags.values_list("name", flat=True)) == ["hot", "pune"]
    assert events["updated"] == {"fields": ["email", "tags"]}
    assert events["stage_changed"] == {"from": str(stages[0].pk), "to": str(stages[2].pk)}
    assert events["assigned"] == {"from": None, "to": str(bob_member.pk)}


def test_renaming_a_lead_replaces_its_name_tokens(world, make_lead, alice):
    lead = make_lead()
    lead_update(workspace=world.a, actor=alice, lead=lead, name="Rahul")
    with workspace_scope(world.a):
        assert LeadNameToken.objects.filter(lead=lead).count() == 1


def test_a_phone_taken_by_another_live_lead_is_refused_on_update(world, make_lead, alice):
    make_lead(phone=PHONE)
    other = make_lead(name="Rahul", phone="+919812345678")
    with pytest.raises(ValidationError) as caught:
        lead_update(workspace=world.a, actor=alice, lead=other, phone="98765 43210")
    assert list(caught.value.message_dict) == ["phone"]


def test_unknown_update_fields_are_refused(world, make_lead, alice):
    with pytest.raises(ValidationError) as caught:
        lead_update(workspace=world.a, actor=alice, lead=make_lead(), workspace_id="x")
    assert list(caught.value.message_dict) == ["workspace_id"]


def test_sales_own_the_leads_they_create(world, make_lead, bob, bob_member):
    assert make_lead(actor=bob).owner_id == bob_member.pk


def test_sales_cannot_touch_a_lead_assigned_to_nobody_else_but_them(world, make_lead, bob):
    lead = make_lead()  # Alice's, unassigned
    for attempt in (
        lambda: lead_update(workspace=world.a, actor=bob, lead=lead, name="X"),
        lambda: lead_trash(workspace=world.a, actor=bob, lead=lead),
        lambda: note_add(workspace=world.a, actor=bob, lead=lead, body="hi"),
    ):
        with pytest.raises(Http404):
            attempt()


def test_sales_cannot_reassign_their_lead(world, make_lead, bob):
    lead = make_lead(actor=bob)
    with pytest.raises(PermissionDenied):
        lead_update(workspace=world.a, actor=bob, lead=lead, owner=None)


def test_restore_works_within_30_days_only(world, make_lead, alice):
    lead = make_lead()
    lead_trash(workspace=world.a, actor=alice, lead=lead)
    lead_restore(workspace=world.a, actor=alice, lead=lead)
    assert lead.deleted_at is None
    lead_trash(workspace=world.a, actor=alice, lead=lead)
    later = timezone.now() + timedelta(days=31)
    with (
        mock.patch("django.utils.timezone.now", return_value=later),
        pytest.raises(ValidationError),
    ):
        lead_restore(workspace=world.a, actor=alice, lead=lead)
    assert _timeline_kinds(world.a, lead) == ["created", "deleted", "restored", "deleted"]


def test_only_owners_may_delete_at_once(world, make_lead, alice, bob):
    lead = make_lead(actor=bob)
    with pytest.raises(PermissionDenied):
        lead_delete_now(workspace=world.a, actor=bob, lead=lead)
    note_add(workspace=world.a, actor=alice, lead=lead, body="Called twice")
    lead_delete_now(workspace=world.a, actor=alice, lead=lead)
    with workspace_scope(world.a):
        assert not Lead.objects.filter(pk=lead.pk).exists()
        assert not Note.objects.exists()


def test_audit_events_hold_no_personal_data(world, make_lead, alice, bob_member):
    lead = make_lead(phone=PHONE, email=EMAIL, tags=["vip"])
    make_lead(phone="98765 43210", source="google_ads")  # dedupe
    lead_update(workspace=world.a, actor=alice, lead=lead, name="Priya S. Sharma")
    note_add(workspace=world.a, actor=alice, lead=lead, body="Budget 40 lakh, Baner")
    lead_trash(workspace=world.a, actor=alice, lead=lead)
    lead_restore(workspace=world.a, actor=alice, lead=lead)
    events = list(AuditEvent.objects.filter(target_type="lead"))
    assert {e.action for e in events} >= {
        "lead_created",
        "lead_updated",
        "lead_deleted",
        "lead_restored",
    }
    dumped = json.dumps([e.metadata for e in events]) + " ".join(e.reason for e in events)
    for plaintext in ("Priya", "Sharma", "9876543210", EMAIL, "Baner", "40 lakh"):
        assert plaintext not in dumped
