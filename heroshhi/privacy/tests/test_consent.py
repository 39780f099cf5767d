"""Marketing consent (P09, P24): grant, withdraw (= opt-out), the campaign question, the
lead page panel and the REST endpoints."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.services.leads import lead_create
from heroshhi.messaging import optout
from heroshhi.messaging.models import OptOutRecord
from heroshhi.privacy.consent import (
    consent_grant,
    consent_history,
    consent_withdraw,
    has_marketing_consent,
)
from heroshhi.privacy.models import ConsentRecord
from heroshhi.privacy.tests.conftest import PHONE, issue_key


@pytest.fixture
def lead(world, alice):
    return lead_create(
        workspace=world.a, actor=alice, name="Meera Iyer", phone=PHONE, email=None, source="manual"
    ).lead


def test_a_grant_gives_marketing_consent_and_is_audited_without_personal_data(world, alice, lead):
    assert not has_marketing_consent(workspace=world.a, lead=lead)
    given = timezone.now() - timedelta(days=3)

    record = consent_grant(
        workspace=world.a,
        actor=alice,
        lead=lead,
        source="ad",
        notice_version="fb-form-v3",
        given_at=given,
    )

    assert has_marketing_consent(workspace=world.a, lead=lead)
    assert (record.purpose, record.status, record.source) == ("marketing", "granted", "ad")
    assert record.given_at == given
    assert record.actor_id == alice.id
    event = AuditEvent.objects.filter(reason="consent_granted").get()
    assert event.target_id == str(lead.pk)
    assert event.metadata["source"] == "ad"
    assert PHONE not in json.dumps(event.metadata)


def test_withdrawal_opts_the_contact_out_and_the_ledger_outlives_the_lead(world, alice, lead):
    consent_grant(workspace=world.a, actor=alice, lead=lead, source="form")

    consent_withdraw(workspace=world.a, actor=alice, lead=lead)

    assert not has_marketing_consent(workspace=world.a, lead=lead)
    assert optout.lead_is_opted_out(workspace=world.a, lead=lead)
    statuses = [r.status for r in consent_history(workspace=world.a, lead=lead)]
    assert statuses == ["granted", "withdrawn"]
    with workspace_scope(world.a):
        ledger = OptOutRecord.objects.get()
    assert ledger.method == "manual"
    # A STOP also ends consent: a new grant is not usable while the contact is opted out.
    consent_grant(workspace=world.a, actor=alice, lead=lead, source="manual")
    assert not has_marketing_consent(workspace=world.a, lead=lead)
    optout.lead_opt_in(workspace=world.a, actor=alice, lead=lead, method="manual")
    assert has_marketing_consent(workspace=world.a, lead=lead)


def test_records_are_append_only(world, alice, lead):
    record = consent_grant(workspace=world.a, actor=alice, lead=lead, source="form")
    record.status = ConsentRecord.Status.WITHDRAWN
    with pytest.raises(ValueError, match="append-only"), workspace_scope(world.a):
        record.save()


def test_bad_input_is_refused_and_nothing_is_written(world, alice, charlie, lead):
    with pytest.raises(ValidationError) as error:
        consent_grant(workspace=world.a, actor=alice, lead=lead, source="billboard")
    assert "source" in error.value.message_dict
    with pytest.raises(ValidationError):
        consent_grant(
            workspace=world.a, actor=alice, lead=lead, source="form", notice_version="9812345678"
        )
    with pytest.raises(ValidationError):
        consent_grant(
            workspace=world.a,
            actor=alice,
            lead=lead,
            source="form",
            given_at=timezone.now() + timedelta(days=1),
        )
    with pytest.raises(Http404):
        consent_grant(workspace=world.b, actor=charlie, lead=lead, source="form")
    with workspace_scope(world.a):
        assert not ConsentRecord.objects.exists()


def test_the_api_refuses_consent_dated_beyond_its_bounds(client, world, lead):
    headers = issue_key(world.a)
    url = f"/api/v1/leads/{lead.pk}/consent"
    for given_at, problem in (
        (timezone.now() - timedelta(days=3 * 365 + 1), "more than 1095 days ago"),
        (timezone.now() + timedelta(days=400), "in the future"),
    ):
        body = {"status": "granted", "source": "form", "given_at": given_at.isoformat()}
        response = client.post(url, body, content_type="application/json", **headers)
        assert response.status_code == 422, response.content
        assert problem in response.json()["error"]["fields"]["given_at"][0]
    with workspace_scope(world.a):
        assert not ConsentRecord.objects.exists()
    two_years = timezone.now() - timedelta(days=2 * 365)
    body = {"status": "granted", "source": "form", "given_at": two_years.isoformat()}
    assert client.post(url, body, content_type="application/json", **headers).status_code == 201


def test_the_lead_panel_records_and_withdraws_consent(client, world, lead):
    client.login(email=world.alice.email, password=PASSWORD)
    detail = reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": lead.pk})
    action = reverse("privacy:lead_consent", kwargs={"slug": world.a.slug, "lead_id": lead.pk})
    page = client.get(detail)
    assert b"No consent recorded" in page.content

    response = client.post(
        action, {"action": "grant", "source": "chat", "notice_version": "2026-02"}
    )
    assert response.status_code == 302
    page = client.get(detail)
    assert b"Consent on record" in page.content
    assert b"2026-02" in page.content

    client.post(action, {"action": "withdraw"})
    assert optout.lead_is_opted_out(workspace=world.a, lead=lead)
    assert b"Consent withdrawn" in client.get(detail).content

    client.login(email=world.charlie.email, password=PASSWORD)
    foreign = reverse("privacy:lead_consent", kwargs={"slug": world.b.slug, "lead_id": lead.pk})
    assert client.post(foreign, {"action": "grant", "source": "chat"}).status_code == 404


def test_the_api_records_reads_and_refuses(client, world, lead):
    headers = issue_key(world.a)
    url = f"/api/v1/leads/{lead.pk}/consent"

    empty = client.get(url, **headers)
    assert empty.status_code == 200
    assert empty.json() == {"lead": str(lead.pk), "marketing_consent": False, "history": []}

    created = client.post(
        url,
        {"status": "granted", "source": "import", "notice_version": "csv-2026"},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["marketing_consent"] is True
    assert body["history"][0]["source"] == "import"

    bad = client.post(
        url,
        {"status": "granted", "source": "telepathy"},
        content_type="application/json",
        **headers,
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"]

    withdrawn = client.post(
        url, {"status": "withdrawn"}, content_type="application/json", **headers
    )
    assert withdrawn.status_code == 201
    assert withdrawn.json()["marketing_consent"] is False
    with workspace_scope(world.a):
        assert OptOutRecord.objects.get().method == "api"

    charlie = issue_key(world.b)
    assert client.get(url, **charlie).status_code == 404
