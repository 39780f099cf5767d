"""The owner's compliance page: each promise with live evidence, who may see it, the
encryption coverage check and the records of processing."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit import sequencer
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import blind_index
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.services.trash import lead_trash
from heroshhi.privacy import compliance, incidents
from heroshhi.privacy.compliance_statements import PROCESSING_RECORDS, PROMISES
from heroshhi.privacy.models import ChainVerification
from heroshhi.privacy.retention.runs import retention_run
from heroshhi.privacy.services.requests import privacy_request_create
from heroshhi.privacy.tests.conftest import NAME, PHONE

pytestmark = pytest.mark.django_db


def _url(world, name="compliance"):
    return reverse(f"privacy:{name}", kwargs={"slug": world.a.slug})


def test_every_declared_sensitive_column_exists_and_is_encrypted():
    coverage = compliance.encryption_coverage()
    assert coverage.total >= 30
    assert [c for c in coverage.columns if c.state == "missing"] == []
    assert coverage.gaps == []
    assert coverage.percent == 100


def test_a_plaintext_or_vanished_column_lowers_the_coverage():
    coverage = compliance.encryption_coverage(
        {"leads.Lead": ("name", "source"), "accounts.User": ("email",), "nope.Model": ("x",)}
    )
    states = {(c.model, c.column): c.state for c in coverage.columns}
    assert states == {
        ("leads.Lead", "name"): "encrypted",
        ("leads.Lead", "source"): "plaintext",
        ("accounts.User", "email"): "plaintext",
        ("nope.Model", "x"): "missing",
    }
    assert coverage.percent == 25


def test_the_owner_sees_each_promise_with_evidence(client, world, alice, person, operator):
    request = privacy_request_create(
        workspace=world.a, actor=alice, type="access", lead=person.lead, channel="email"
    )
    lead_trash(workspace=world.a, actor=alice, lead=person.lead)
    retention_run(now=timezone.now() + timedelta(days=31))
    incident = incidents.incident_record(
        actor=operator,
        title="Misrouted webhook",
        description="",
        detected_at=timezone.now(),
        severity="low",
        workspaces=[world.a],
    )
    client.login(email=world.alice.email, password=PASSWORD)

    page = client.get(_url(world))

    assert page.status_code == 200
    html = page.content.decode()
    for promise in PROMISES:
        assert f'data-evidence="{promise.evidence}"' in html
    assert "<strong data-coverage>100%</strong>" in html
    assert "records on the opt-out ledger (1 opt-outs)" in html
    assert "data-my-run" in html
    assert "Leads in the trash for 30 days" in html
    assert request.reference in html
    assert incident.reference in html
    assert "CERT-In report" in html
    for record in PROCESSING_RECORDS:
        assert str(record.activity) in html
    assert 'data-check-ok="yes"' in html
    # Evidence, never the person.
    assert NAME not in html
    assert PHONE not in html
    assert blind_index(world.a.pk, "phone", PHONE) not in html


def test_charlie_is_not_told_about_alices_incident(client, world, operator):
    incidents.incident_record(
        actor=operator,
        title="Only alpha",
        description="",
        detected_at=timezone.now(),
        severity="low",
        workspaces=[world.a],
    )
    client.login(email=world.charlie.email, password=PASSWORD)
    own = client.get(reverse("privacy:compliance", kwargs={"slug": world.b.slug}))
    assert own.status_code == 200
    assert b"Only alpha" not in own.content
    assert b"No incident has affected this workspace." in own.content


def test_sales_get_403_and_charlie_gets_404(client, world):
    client.login(email=world.bob.email, password=PASSWORD)
    assert client.get(_url(world)).status_code == 403
    assert client.post(_url(world, "compliance_verify")).status_code == 403
    client.login(email=world.charlie.email, password=PASSWORD)
    assert client.get(_url(world)).status_code == 404
    assert client.post(_url(world, "compliance_verify")).status_code == 404


def test_the_owner_verifies_the_activity_log_on_demand(client, world, person):
    client.login(email=world.alice.email, password=PASSWORD)
    assert b"Not verified yet." in client.get(_url(world)).content

    response = client.post(_url(world, "compliance_verify"), follow=True)

    assert response.status_code == 200
    with workspace_scope(world.a):
        check = ChainVerification.objects.get()
    assert check.ok
    assert check.events_checked == AuditEvent.objects.filter(chain=str(world.a.pk)).count()
    assert b'data-chain-state="ok"' in response.content


@pytest.mark.audit_queue
def test_the_owner_is_told_when_activity_log_entries_wait_to_be_sealed(client, world):
    client.login(email=world.alice.email, password=PASSWORD)
    fresh = client.get(_url(world)).content.decode()
    assert "data-audit-queue" not in fresh  # queued a moment ago: nothing to say
    with mock.patch(
        "django.utils.timezone.now", return_value=timezone.now() - timedelta(minutes=2)
    ):
        audit_record(workspace=world.a, actor=Actor.system(), action=AuditAction.LEAD_UPDATED)

    page = client.get(_url(world)).content.decode()

    queued = AuditEvent.objects.filter(chain=str(world.a.pk), seq__isnull=True).count()
    assert 'data-audit-queue="stale"' in page
    assert f"{queued} recent entries are waiting to be sealed into the activity log" in page
    client.login(email=world.charlie.email, password=PASSWORD)
    other = client.get(reverse("privacy:compliance", kwargs={"slug": world.b.slug}))
    assert "data-audit-queue" not in other.content.decode()  # only workspace A's entries wait

    sequencer.audit_sequence(str(world.a.pk))
    client.login(email=world.alice.email, password=PASSWORD)
    assert "data-audit-queue" not in client.get(_url(world)).content.decode()


def test_key_ages_show_metadata_only(world, person):
    ages = compliance.key_ages(workspace=world.a)
    assert {age.purpose for age in ages} == {"data", "index"}
    assert all(age.days == 0 and age.version >= 1 for age in ages)
