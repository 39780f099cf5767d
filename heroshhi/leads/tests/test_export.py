"""CSV export: streamed, neutralised against formulas, filtered, audited, and refused to
sales and other workspaces."""

from __future__ import annotations

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.leads.export import COLUMNS, neutralise
from heroshhi.leads.selectors import LeadFilters, Viewer
from heroshhi.leads.selectors_export import leads_export_batches
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.services.trash import lead_trash
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db


def _url(world):
    return reverse("leads:export", kwargs={"slug": world.a.slug})


def _rows(response):
    assert isinstance(response, StreamingHttpResponse)
    raw = response.getvalue()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


def _export(client, world, **params):
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.get(_url(world), params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return _rows(response)


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_each_dangerous_prefix_is_neutralised(prefix):
    assert neutralise(f"{prefix}SUM(A1)") == f"'{prefix}SUM(A1)"
    assert neutralise("Priya") == "Priya"


def test_formula_names_and_phones_come_out_neutralised_and_readable(client, world, make_lead):
    make_lead(name='=HYPERLINK("http://evil")', phone="+91 98765 43210", tags=["@vip"])
    make_lead(name="-2+3", phone=None, email="a@b.example")
    rows = {row["name"]: row for row in _export(client, world)}
    evil = rows['\'=HYPERLINK("http://evil")']
    assert evil["phone"] == "'+919876543210"
    assert evil["tags"] == "'@vip"
    assert "'-2+3" in rows


def test_hindi_and_emoji_names_round_trip(client, world, make_lead, bob_member):
    make_lead(name="प्रिया शर्मा 🙏", deal_value="2500.50", owner=bob_member)
    (row,) = _export(client, world)
    assert row["name"] == "प्रिया शर्मा 🙏"
    assert row["deal_value"] == "2500.50"
    assert row["stage"] == "New"
    assert row["owner"] == "Bob"
    assert row["created_at"].endswith("+00:00")
    assert list(row) == list(COLUMNS)


def test_one_audit_event_with_the_row_count_and_no_personal_data(client, world, make_lead):
    for n in range(3):
        make_lead(name=f"Lead {n}", phone=f"+9198765432{n:02d}")
    stage = stages_ensure_defaults(workspace=world.a)[0]
    rows = _export(client, world, stage=str(stage.pk))
    event = AuditEvent.objects.get(action="data_export")
    assert event.metadata == {"entity": "lead", "format": "csv", "count": 3, "filters": ["stage"]}
    assert len(rows) == 3


def test_filters_are_respected_and_trashed_leads_never_exported(client, world, alice, make_lead):
    make_lead(name="From ads", source="facebook_ads")
    make_lead(name="By hand", source="manual")
    gone = make_lead(name="Trashed", source="facebook_ads", phone="+919812345678")
    lead_trash(workspace=world.a, actor=alice, lead=gone)
    assert [r["name"] for r in _export(client, world, source="facebook_ads")] == ["From ads"]
    assert "Trashed" not in {r["name"] for r in _export(client, world)}
    client.login(email=world.alice.email, password=PASSWORD)
    assert client.get(_url(world), {"q": "Priya"}).status_code == 400
    assert client.get(_url(world), {"trashed": "true"}).status_code == 400


def test_keyset_batches_cover_every_lead_once(world, make_lead):
    for n in range(5):
        make_lead(name=f"Lead {n}")
    batches = list(
        leads_export_batches(
            workspace=world.a,
            viewer=Viewer(role="owner", member_id=None),
            filters=LeadFilters(),
            batch=2,
        )
    )
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(str(lead.name) for b in batches for lead in b) == [f"Lead {n}" for n in range(5)]


def test_sales_are_refused(client, world):
    client.login(email=world.bob.email, password=PASSWORD)
    assert client.get(_url(world)).status_code == 403
    assert (
        client.get("/api/v1/leads/export.csv", **issue_key(world.a, Role.SALES)).status_code == 403
    )
    assert not AuditEvent.objects.filter(action="data_export").exists()


def test_charlie_gets_404(client, world, make_lead):
    make_lead()
    client.login(email=world.charlie.email, password=PASSWORD)
    assert client.get(_url(world)).status_code == 404


def test_the_api_streams_the_same_csv(client, world, make_lead):
    make_lead(name="Api Lead", phone="+919876543210")
    response = client.get("/api/v1/leads/export.csv", **issue_key(world.a, Role.MANAGER))
    assert response.status_code == 200
    (row,) = _rows(response)
    assert row["phone"] == "'+919876543210"
    assert AuditEvent.objects.filter(action="data_export").count() == 1


def test_charlies_api_key_exports_nothing_of_alices(client, world, make_lead):
    lead = make_lead()
    response = client.get("/api/v1/leads/export.csv", **issue_key(world.b))
    assert str(lead.pk) not in response.getvalue().decode()
