"""Erasure removes every row of the person at once, across all tables, keeps the opt-out
ledger (which still blocks a re-created lead), answers with a receipt without personal data,
and cannot run twice or be undone."""

from __future__ import annotations

import json

import pytest
from django.apps import apps
from django.db import models
from django.http import Http404
from django.urls import reverse

from conftest import PASSWORD, World
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import EMAIL as EMAIL_KIND
from heroshhi.core.crypto import PHONE as PHONE_KIND
from heroshhi.core.crypto import WA_USER, BlindIndexField, blind_index, name_tokens
from heroshhi.core.crypto.fields import encrypted_fields_of
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.trash import lead_trash
from heroshhi.messaging import optout
from heroshhi.messaging.models import OptOutRecord
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.erasure import lead_erase
from heroshhi.privacy.services.requests import privacy_request_submit_public
from heroshhi.privacy.tests.conftest import (
    EMAIL,
    MESSAGE_IN,
    NAME,
    PHONE,
    WA_USER_ID,
    Person,
    issue_key,
    seed_person,
)


def _lead_fk_rows(lead_id: object) -> dict[str, int]:
    """Rows in any table whose foreign key points at this lead id."""
    found = {}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.get_fields():
            if isinstance(field, models.ForeignKey) and field.related_model is Lead:
                count = model._base_manager.filter(**{field.attname: lead_id}).count()
                if count:
                    found[f"{model._meta.label}.{field.name}"] = count
    return found


def _blind_indexes_in_use(values: set[str]) -> dict[str, int]:
    """Where any of these blind indexes is still stored, table by table."""
    found = {}
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if isinstance(field, BlindIndexField):
                count = model._base_manager.filter(**{f"{field.attname}__in": values}).count()
                if count:
                    found[f"{model._meta.label}.{field.name}"] = count
    return found


def _stored_ciphertexts() -> set[str]:
    """Every encrypted value stored anywhere, as the raw ciphertext text."""
    stored = set()
    for model in apps.get_models():
        for field in encrypted_fields_of(model):
            stored |= {
                str(value)
                for value in model._base_manager.values_list(field.attname, flat=True)
                if value is not None
            }
    return stored


def _plaintexts_left(workspace: object, plaintexts: list[str]) -> dict[str, list[str]]:
    """Every encrypted value of the workspace, decrypted, searched for the seeded values."""
    left: dict[str, list[str]] = {}
    for model in apps.get_models():
        fields = encrypted_fields_of(model)
        if not fields or not any(f.name == "workspace" for f in model._meta.concrete_fields):
            continue
        for row in model._base_manager.filter(workspace=workspace):
            for field in fields:
                text = json.dumps(getattr(row, field.attname), ensure_ascii=False)
                hits = [value for value in plaintexts if value in text]
                if hits:
                    left.setdefault(f"{model._meta.label}.{field.name}", []).extend(hits)
    return left


def _person_ciphertexts(person: Person) -> set[str]:
    """The raw ciphertexts of the person's own rows, read before the erasure."""
    lead_id = person.lead.pk
    stored = set()
    for model in apps.get_models():
        fields = encrypted_fields_of(model)
        lead_fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.ForeignKey) and f.related_model is Lead
        ]
        if model is Lead:
            lookup = {"pk": lead_id}
        elif lead_fields:
            lookup = {lead_fields[0]: lead_id}
        else:
            continue
        rows = model._base_manager.filter(**lookup)
        for field in fields:
            stored |= {str(v) for v in rows.values_list(field.attname, flat=True) if v}
    return stored


def test_erasure_removes_every_row_of_the_person(world: World, alice: Actor, person: Person):
    lead_id = person.lead.pk
    keys = {
        blind_index(world.a.pk, PHONE_KIND, PHONE),
        blind_index(world.a.pk, EMAIL_KIND, EMAIL),
        blind_index(world.a.pk, WA_USER, WA_USER_ID),
        *name_tokens(world.a.pk, NAME),
    }
    before = _lead_fk_rows(lead_id)
    assert {"messaging.Message.lead", "messaging.Call.lead", "leads.Note.lead"} <= set(before)
    ciphertexts = _person_ciphertexts(person)
    assert len(ciphertexts) >= 9  # name, phone, e-mail, custom values, note, task, messages…

    receipt = lead_erase(workspace=world.a, actor=alice, lead_id=lead_id)

    assert _lead_fk_rows(lead_id) == {}
    # Only the opt-out ledger still holds the phone and WhatsApp indexes, by design.
    assert set(_blind_indexes_in_use(keys)) == {
        "messaging.OptOutRecord.phone_bidx",
        "messaging.OptOutRecord.wa_user_bidx",
    }
    assert ciphertexts.isdisjoint(_stored_ciphertexts())
    assert _plaintexts_left(world.a, person.plaintexts) == {}
    deleted = {line["table"]: line["count"] for line in receipt["deleted"]}
    assert deleted["leads.Lead"] == 1
    assert deleted["messaging.Message"] == 2
    assert deleted["messaging.Conversation"] == 1
    assert deleted["messaging.Call"] == 1
    assert deleted["leads.Note"] == 1
    assert deleted["leads.Task"] == 1
    assert deleted["leads.LeadNameToken"] == 2
    assert deleted["leads.TimelineEvent"] >= 4
    assert receipt["total_deleted"] == sum(deleted.values())
    assert receipt["kept"]["opt_out_records"] == 1


def test_the_receipt_and_the_audit_hold_no_personal_data(world, alice, person):
    receipt = lead_erase(workspace=world.a, actor=alice, lead_id=person.lead.pk)
    text = json.dumps(receipt)
    events = json.dumps(
        [(e.action, e.reason, e.metadata) for e in AuditEvent.objects.filter(workspace=world.a)]
    )
    for value in [*person.plaintexts, PHONE.lstrip("+"), "98123 45678"]:
        assert value not in text
        assert value not in events
    request = PrivacyRequest.objects.unscoped().get(pk=receipt["request"])
    assert request.status == PrivacyRequest.Status.COMPLETED
    assert request.lead_id is None
    assert request.subject_ref == str(person.lead.pk)
    assert request.outcome["receipt"] == receipt
    erase_event = AuditEvent.objects.filter(action="data_delete", reason="erasure").get()
    assert erase_event.metadata["deleted"]["messaging.Message"] == 2


def test_the_opt_out_ledger_outlives_the_erasure_and_blocks_a_new_lead(world, alice, person):
    with workspace_scope(world.a):
        ledger_before = OptOutRecord.objects.count()
    lead_erase(workspace=world.a, actor=alice, lead_id=person.lead.pk)
    with workspace_scope(world.a):
        assert OptOutRecord.objects.count() == ledger_before == 1
    again = lead_create(
        workspace=world.a, actor=alice, name="P", phone=PHONE, email=None, source="import"
    ).lead
    assert again.pk != person.lead.pk
    assert optout.lead_is_opted_out(workspace=world.a, lead=again) is True


def test_erasing_twice_says_already_erased(world, alice, person):
    lead_erase(workspace=world.a, actor=alice, lead_id=person.lead.pk)
    with pytest.raises(PrivacyActionRefused) as refused:
        lead_erase(workspace=world.a, actor=alice, lead_id=person.lead.pk)
    assert refused.value.code == "already_erased"
    with workspace_scope(world.a):
        assert PrivacyRequest.objects.filter(type="erasure").count() == 1


def test_an_unknown_lead_is_not_found(world, alice):
    with pytest.raises(Http404):
        lead_erase(workspace=world.a, actor=alice, lead_id="00000000-0000-0000-0000-000000000000")
    with pytest.raises(Http404):
        lead_erase(workspace=world.a, actor=alice, lead_id="not-an-id")


def test_an_erased_lead_cannot_be_restored(client, world, alice, person):
    lead = person.lead
    lead_trash(workspace=world.a, actor=alice, lead=lead)
    lead_erase(workspace=world.a, actor=alice, lead_id=lead.pk)
    headers = issue_key(world.a)
    response = client.post(f"/api/v1/leads/{lead.pk}/restore", **headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    client.login(email=world.alice.email, password=PASSWORD)
    page = client.post(reverse("leads:restore", kwargs={"slug": world.a.slug, "lead_id": lead.pk}))
    assert page.status_code == 404
    with workspace_scope(world.a):
        assert not Lead.objects.filter(pk=lead.pk).exists()


def test_erasure_answers_the_open_erasure_request_and_wipes_what_the_requester_typed(
    world, alice, person
):
    submitted = privacy_request_submit_public(
        workspace=world.a,
        name=NAME,
        email=EMAIL,
        phone=None,
        type="erasure",
        message="Please delete everything about me",
    )
    assert submitted.lead_id == person.lead.pk
    receipt = lead_erase(workspace=world.a, actor=alice, lead_id=person.lead.pk)
    assert receipt["request"] == str(submitted.pk)
    with workspace_scope(world.a):
        request = PrivacyRequest.objects.get(pk=submitted.pk)
    assert request.status == PrivacyRequest.Status.COMPLETED
    assert (request.requester_name, request.requester_email, request.requester_message) == (
        None,
        None,
        None,
    )
    assert request.requester_email_bidx is None


def test_erasure_leaves_other_leads_alone(world, alice, person):
    other = seed_person(world, alice, phone="+919833334444", email="someone@example.in")
    lead_erase(workspace=world.a, actor=alice, lead_id=person.lead.pk)
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=other.lead.pk).exists()
    assert _lead_fk_rows(other.lead.pk)["messaging.Message.lead"] == 2


def test_sales_may_not_erase(world, person):
    bob = Actor.user(world.bob.pk, role="sales")
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        lead_erase(workspace=world.a, actor=bob, lead_id=person.lead.pk)
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=person.lead.pk).exists()


def test_charlie_cannot_erase_alices_lead_from_his_workspace(world, charlie, person):
    with pytest.raises(Http404):
        lead_erase(workspace=world.b, actor=charlie, lead_id=person.lead.pk)
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=person.lead.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_erasure_removes_the_raw_webhook_bodies_that_named_the_person(
    client, world, alice, django_capture_on_commit_callbacks
):
    from heroshhi.whatsapp.models import WebhookDelivery
    from heroshhi.whatsapp.tests.webhook_support import (
        change,
        contact,
        envelope,
        make_channel,
        post,
        status,
        text_message,
    )

    channel = make_channel(world.a)
    person_digits, other_digits = PHONE.lstrip("+"), "919833334444"

    def deliver(*changes):
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, channel, envelope(list(changes))).status_code == 200

    deliver(
        change(
            channel,
            contacts=[contact(person_digits, name=NAME, user_id=WA_USER_ID)],
            messages=[text_message("wamid.p.1", MESSAGE_IN, wa_id=person_digits)],
        )
    )
    deliver(change(channel, statuses=[status("wamid.unknown", "read", recipient_id=person_digits)]))
    deliver(
        change(
            channel,
            contacts=[contact(other_digits, name="Someone Else")],
            messages=[text_message("wamid.o.1", "Hello", wa_id=other_digits)],
        )
    )
    with workspace_scope(world.a):
        assert WebhookDelivery.objects.filter(status="processed").count() == 3
        lead = Lead.objects.get(phone_bidx=blind_index(world.a.pk, PHONE_KIND, PHONE))

    receipt = lead_erase(workspace=world.a, actor=alice, lead_id=lead.pk)

    deleted = {line["table"]: line["count"] for line in receipt["deleted"]}
    assert deleted["whatsapp.WebhookDelivery"] == 2
    with workspace_scope(world.a):
        [left] = WebhookDelivery.objects.all()
    assert "Someone Else" in left.body
    assert _plaintexts_left(world.a, [NAME, MESSAGE_IN, WA_USER_ID]) == {}
