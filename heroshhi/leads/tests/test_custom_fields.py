"""Custom fields: definitions (owners and managers only, per workspace), values checked by
type in the services, the API, the lead pages, the import and the export, and values that
never leak into the timeline, the audit log or another workspace."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import importing
from heroshhi.leads.custom_fields import clean_custom_values, custom_fields_list
from heroshhi.leads.models import CustomField, Lead, LeadImport, TimelineEvent
from heroshhi.leads.services import imports
from heroshhi.leads.services.custom_fields import (
    custom_field_archive,
    custom_field_create,
    custom_field_move,
    custom_field_restore,
    custom_field_update,
)
from heroshhi.leads.services.leads import lead_create, lead_update
from heroshhi.leads.services.merging import lead_merge
from heroshhi.leads.tasks import lead_import_run
from heroshhi.leads.tests.conftest import NAME, issue_key
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db
SECRET = "Lives near Andheri station"


@pytest.fixture
def fields(world, alice):
    """Workspace A's four fields, one of each kind; "plan" is required."""

    def make(label, kind, **kwargs):
        return custom_field_create(workspace=world.a, actor=alice, label=label, kind=kind, **kwargs)

    return {
        "remarks": make("Remarks", "text"),
        "budget": make("Budget (₹)", "number"),
        "visit_on": make("Visit on", "date"),
        "plan": make("Plan", "choice", choices=["Basic", "Gold"], required=True),
    }


def _errors(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


# Definitions ------------------------------------------------------------------------------


def test_keys_come_from_labels_are_unique_and_reserved_names_are_refused(world, alice, fields):
    assert [f.key for f in custom_fields_list(workspace=world.a)] == [
        "remarks",
        "budget",
        "visit_on",
        "plan",
    ]
    with pytest.raises(ValidationError) as taken:
        custom_field_create(workspace=world.a, actor=alice, label="Budget", kind="text")
    assert "key" in _errors(taken)
    for bad_key in ("phone", "Has Space", "9lives", "lead_9876543210"):
        with pytest.raises(ValidationError) as refused:
            custom_field_create(workspace=world.a, actor=alice, label="X", kind="text", key=bad_key)
        assert "key" in _errors(refused), bad_key
    with pytest.raises(ValidationError) as no_options:
        custom_field_create(workspace=world.a, actor=alice, label="Size", kind="choice")
    assert "choices" in _errors(no_options)


def test_sales_cannot_define_or_change_fields(world, bob, fields):
    with pytest.raises(PermissionDenied):
        custom_field_create(workspace=world.a, actor=bob, label="Hack", kind="text")
    with pytest.raises(PermissionDenied):
        custom_field_archive(workspace=world.a, actor=bob, field=fields["budget"])


def test_sales_get_403_on_the_settings_page(client, world, fields):
    client.login(email=world.bob.email, password=PASSWORD)
    url = reverse("leads:custom_fields", kwargs={"slug": world.a.slug})
    assert client.get(url).status_code == 403
    assert client.post(url, {"new-label": "Hack", "new-kind": "text"}).status_code == 403
    with workspace_scope(world.a):
        assert not CustomField.objects.filter(label="Hack").exists()


def test_charlie_neither_sees_nor_uses_alices_fields(world, charlie, client, fields):
    assert custom_fields_list(workspace=world.b) == []
    with pytest.raises(ValidationError) as unknown:
        lead_create(
            workspace=world.b,
            actor=charlie,
            name=NAME,
            phone=None,
            email=None,
            source="manual",
            custom_fields={"budget": "10"},
        )
    assert "custom_fields.budget" in _errors(unknown)
    # Charlie may reuse the key in his own workspace; it is a different field.
    custom_field_create(workspace=world.b, actor=charlie, label="Budget", kind="text")
    client.login(email=world.charlie.email, password=PASSWORD)
    page = client.get(reverse("leads:custom_fields", kwargs={"slug": world.b.slug}))
    assert "Visit on" not in page.content.decode()
    edit = reverse(
        "leads:custom_field_edit", kwargs={"slug": world.b.slug, "field_id": fields["plan"].pk}
    )
    assert client.post(edit, {"label": "Stolen"}).status_code == 404


def test_update_move_archive_restore_are_audited_without_values(world, alice, fields):
    plan = fields["plan"]
    custom_field_update(
        workspace=world.a,
        actor=alice,
        field=plan,
        label="Plan",
        required=False,
        choices="Basic\nGold\nPlatinum",
    )
    custom_field_move(workspace=world.a, actor=alice, field=plan, direction="up")
    assert [f.key for f in custom_fields_list(workspace=world.a)][2:] == ["plan", "visit_on"]
    custom_field_archive(workspace=world.a, actor=alice, field=plan)
    assert "plan" not in [f.key for f in custom_fields_list(workspace=world.a)]
    custom_field_restore(workspace=world.a, actor=alice, field=plan)
    assert [f.key for f in custom_fields_list(workspace=world.a)][-1] == "plan"
    events = AuditEvent.objects.filter(target_id=str(plan.pk)).order_by("seq")
    assert [e.action for e in events] == [
        "custom_field_created",
        "custom_field_updated",
        "custom_field_updated",
        "custom_field_deleted",
        "custom_field_updated",
    ]
    assert all(e.metadata["key"] == "plan" and e.metadata["kind"] == "choice" for e in events)
    assert "Platinum" not in json.dumps([e.metadata for e in events])


# Values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("remarks", 12, "Enter text."),
        ("remarks", "x" * 501, "at most 500"),
        ("budget", "twelve", "Enter a number."),
        ("budget", True, "Enter a number."),
        ("budget", "NaN", "Enter a number."),
        ("budget", "1e20", "smaller"),
        ("visit_on", "31/12/2026", "YYYY-MM-DD"),
        ("visit_on", "2026-02-30", "YYYY-MM-DD"),
        ("plan", "Diamond", "Choose one of the options."),
    ],
)
def test_each_kind_refuses_the_wrong_type(world, fields, key, value, message):
    with pytest.raises(ValidationError) as excinfo:
        clean_custom_values(workspace=world.a, values={key: value}, partial=True)
    errors = _errors(excinfo)
    assert list(errors) == [f"custom_fields.{key}"]
    assert message in errors[f"custom_fields.{key}"][0]


def test_values_are_normalised(world, fields):
    cleaned = clean_custom_values(
        workspace=world.a,
        values={
            "remarks": "  hi  ",
            "budget": "1,250.50",
            "visit_on": "2026-12-01",
            "plan": "gold",
        },
        partial=False,
    )
    assert cleaned == {
        "remarks": "hi",
        "budget": "1250.5",
        "visit_on": "2026-12-01",
        "plan": "Gold",
    }


def test_required_is_enforced_on_create_when_custom_fields_are_sent(world, alice, fields):
    with pytest.raises(ValidationError) as missing:
        lead_create(
            workspace=world.a,
            actor=alice,
            name=NAME,
            phone=None,
            email=None,
            source="manual",
            custom_fields={},
        )
    assert _errors(missing) == {"custom_fields.plan": ["This field is required."]}
    # Leads captured by machines (no custom fields at all) are never lost.
    lead = lead_create(
        workspace=world.a, actor=alice, name=NAME, phone=None, email=None, source="whatsapp"
    ).lead
    assert lead.custom_values is None


def test_update_merges_keys_and_the_timeline_names_fields_never_values(world, alice, fields):
    lead = lead_create(
        workspace=world.a,
        actor=alice,
        name=NAME,
        phone=None,
        email=None,
        source="manual",
        custom_fields={"plan": "Basic", "remarks": SECRET},
    ).lead
    lead_update(
        workspace=world.a,
        actor=alice,
        lead=lead,
        custom_fields={"budget": 5000, "remarks": None, "plan": "Basic"},
    )
    with workspace_scope(world.a):
        stored = Lead.objects.get(pk=lead.pk)
        events = list(TimelineEvent.objects.filter(lead=lead).order_by("created_at", "id"))
    assert stored.custom_values == {"plan": "Basic", "budget": "5000"}
    assert events[0].data["fields"] == ["name", "custom:plan", "custom:remarks"]
    assert events[-1].kind == TimelineEvent.Kind.UPDATED
    assert sorted(events[-1].data["fields"]) == ["custom:budget", "custom:remarks"]
    with pytest.raises(ValidationError) as cleared:
        lead_update(workspace=world.a, actor=alice, lead=lead, custom_fields={"plan": ""})
    assert "custom_fields.plan" in _errors(cleared)
    audit = json.dumps(list(AuditEvent.objects.values_list("metadata", flat=True)))
    assert SECRET not in audit
    assert "5000" not in audit


def test_values_are_encrypted_at_rest(world, alice, fields):
    lead = lead_create(
        workspace=world.a,
        actor=alice,
        name=NAME,
        phone=None,
        email=None,
        source="manual",
        custom_fields={"plan": "Gold", "remarks": SECRET},
    ).lead
    with connection.cursor() as cursor:
        cursor.execute("SELECT custom_values FROM leads_lead WHERE id = %s", [lead.pk.hex])
        row = cursor.fetchone()
        if row is None:  # PostgreSQL stores the uuid with dashes
            cursor.execute("SELECT custom_values FROM leads_lead WHERE id = %s", [str(lead.pk)])
            row = cursor.fetchone()
    assert SECRET not in row[0]
    assert "Gold" not in row[0]


def test_an_archived_field_keeps_its_values_hidden_and_refuses_new_ones(world, alice, fields):
    lead = lead_create(
        workspace=world.a,
        actor=alice,
        name=NAME,
        phone=None,
        email=None,
        source="manual",
        custom_fields={"plan": "Gold", "budget": "10"},
    ).lead
    custom_field_archive(workspace=world.a, actor=alice, field=fields["budget"])
    with pytest.raises(ValidationError) as gone:
        lead_update(workspace=world.a, actor=alice, lead=lead, custom_fields={"budget": "11"})
    assert "custom_fields.budget" in _errors(gone)
    lead_update(workspace=world.a, actor=alice, lead=lead, custom_fields={"plan": "Basic"})
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).custom_values == {"plan": "Basic", "budget": "10"}


# API ------------------------------------------------------------------------------------


def test_api_create_update_and_retrieve_custom_fields(client, world, fields):
    key = issue_key(world.a)
    created = client.post(
        "/api/v1/leads",
        {"name": NAME, "custom_fields": {"plan": "gold", "budget": 1200.5}},
        content_type="application/json",
        **key,
    )
    assert created.status_code == 201, created.content
    lead = created.json()["lead"]
    assert lead["custom_fields"] == {"plan": "Gold", "budget": "1200.5"}
    patched = client.patch(
        f"/api/v1/leads/{lead['id']}",
        {"custom_fields": {"visit_on": "2026-12-01"}},
        content_type="application/json",
        **key,
    )
    assert patched.status_code == 200
    assert patched.json()["custom_fields"]["visit_on"] == "2026-12-01"
    detail = client.get(f"/api/v1/leads/{lead['id']}", **key).json()
    assert detail["custom_fields"] == {"plan": "Gold", "budget": "1200.5", "visit_on": "2026-12-01"}


def test_api_type_errors_are_422_keyed_by_custom_field(client, world, fields):
    key = issue_key(world.a)
    response = client.post(
        "/api/v1/leads",
        {
            "name": NAME,
            "custom_fields": {
                "remarks": ["not", "text"],
                "budget": "lots",
                "visit_on": "tomorrow",
                "plan": "Diamond",
                "$where": "1",
            },
        },
        content_type="application/json",
        **key,
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {
        "custom_fields.remarks",
        "custom_fields.budget",
        "custom_fields.visit_on",
        "custom_fields.plan",
        "custom_fields",
    }
    assert "Diamond" not in response.content.decode()


def test_charlies_key_cannot_write_alices_fields(client, world, fields):
    response = client.post(
        "/api/v1/leads",
        {"name": NAME, "custom_fields": {"plan": "Gold"}},
        content_type="application/json",
        **issue_key(world.b),
    )
    assert response.status_code == 422
    assert "custom_fields.plan" in response.json()["error"]["fields"]


# Pages ----------------------------------------------------------------------------------


def test_create_page_renders_inputs_per_kind_and_shows_type_errors_inline(client, world, fields):
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse("leads:create", kwargs={"slug": world.a.slug})
    page = client.get(url).content.decode()
    assert 'name="cf_visit_on"' in page
    assert 'type="date"' in page
    assert 'name="cf_budget"' in page
    assert 'inputmode="decimal"' in page
    assert '<select name="cf_plan"' in page
    assert ">Gold</option>" in page
    response = client.post(
        url,
        {
            "name": NAME,
            "source": "manual",
            "cf_budget": "lots",
            "cf_visit_on": "2026-13-01",
            "cf_plan": "Diamond",
            "cf_remarks": "ok",
        },
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["cf_budget"] == ["Enter a number."]
    assert form.errors["cf_visit_on"] == ["Enter a date as YYYY-MM-DD."]
    assert form.errors["cf_plan"] == ["Choose one of the options."]
    assert "cf_remarks" not in form.errors
    with workspace_scope(world.a):
        assert not Lead.objects.exists()
    missing = client.post(url, {"name": NAME, "source": "manual"})
    assert missing.context["form"].errors["cf_plan"] == ["This field is required."]


def test_create_edit_and_detail_show_values_and_timeline_labels(client, world, fields):
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.post(
        reverse("leads:create", kwargs={"slug": world.a.slug}),
        {"name": NAME, "source": "manual", "cf_plan": "Gold", "cf_budget": "2500"},
    )
    assert response.status_code == 302
    with workspace_scope(world.a):
        lead = Lead.objects.get()
        stage_id = str(lead.stage_id)
    assert lead.custom_values == {"plan": "Gold", "budget": "2500"}
    edit = reverse("leads:edit", kwargs={"slug": world.a.slug, "lead_id": lead.pk})
    bad = client.post(edit, {"stage": stage_id, "cf_plan": "Gold", "cf_visit_on": "soon"})
    assert bad.status_code == 400
    assert bad.context["edit_form"].errors["cf_visit_on"] == ["Enter a date as YYYY-MM-DD."]
    good = client.post(
        edit, {"stage": stage_id, "cf_plan": "Basic", "cf_budget": "", "cf_visit_on": "2026-12-01"}
    )
    assert good.status_code == 302
    detail = client.get(good.url).content.decode()
    assert "Visit on" in detail
    assert "2026-12-01" in detail
    assert "Basic" in detail
    assert "Budget (₹), Visit on, Plan" in detail  # the timeline names fields by label
    with workspace_scope(world.a):
        assert Lead.objects.get().custom_values == {"plan": "Basic", "visit_on": "2026-12-01"}


def test_settings_page_adds_edits_and_removes_fields(client, world, fields):
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse("leads:custom_fields", kwargs={"slug": world.a.slug})
    assert "Budget (₹)" in client.get(url).content.decode()
    bad = client.post(url, {"new-label": "Size", "new-kind": "choice", "new-choices": ""})
    assert bad.status_code == 400
    assert bad.context["add_form"].errors["choices"]
    added = client.post(url, {"new-label": "Size", "new-kind": "choice", "new-choices": "S\nM\nL"})
    assert added.status_code == 302
    size = CustomField.objects.unscoped().get(workspace=world.a, key="size")
    assert size.choices == ["S", "M", "L"]
    prefix = f"f{size.pk.hex[:8]}"
    kwargs = {"slug": world.a.slug, "field_id": size.pk}
    client.post(
        reverse("leads:custom_field_edit", kwargs=kwargs),
        {
            f"{prefix}-label": "T-shirt size",
            f"{prefix}-choices": "S\nM",
            f"{prefix}-required": "on",
        },
    )
    size.refresh_from_db()
    assert (size.label, size.choices, size.required) == ("T-shirt size", ["S", "M"], True)
    client.post(reverse("leads:custom_field_remove", kwargs=kwargs))
    size.refresh_from_db()
    assert size.archived_at is not None
    assert "Removed fields" in client.get(url).content.decode()


# Import and export -------------------------------------------------------------------------


def _import(world, alice, data: bytes, mapping=None) -> LeadImport:
    with workspace_scope(world.a):
        member = Membership.objects.get(user=world.alice)
    lead_import = imports.lead_import_create(
        workspace=world.a,
        actor=alice,
        member=member,
        upload=SimpleUploadedFile("leads.csv", data, content_type="text/csv"),
    )
    headers = importing.headers_of(lead_import)
    imports.lead_import_start(
        workspace=world.a,
        actor=alice,
        lead_import=lead_import,
        mapping=mapping or importing.guess_mapping(headers, importing.targets_for(world.a)),
    )
    assert lead_import_run(str(lead_import.pk)) == "done"
    with workspace_scope(world.a):
        return LeadImport.objects.get(pk=lead_import.pk)


def test_import_maps_custom_columns_and_reports_type_errors_per_row(world, alice, fields):
    data = (
        b"Name,Budget,Visit on,plan\n"
        b"Asha,1200,2026-12-01,gold\n"
        b"Ravi,lots,2026-12-01,Gold\n"
        b"Meena,10,01/12/2026,Gold\n"
        b"Kiran,10,2026-12-01,Diamond\n"
        b"Dev,10,2026-12-01,\n"
    )
    done = _import(world, alice, data)
    assert (done.created, done.failed) == (1, 4)
    with workspace_scope(world.a):
        asha = Lead.objects.get()
    assert asha.custom_values == {"budget": "1200", "visit_on": "2026-12-01", "plan": "Gold"}
    report = list(csv.DictReader(io.StringIO((done.error_report or "").removeprefix("\ufeff"))))
    assert [(r["row"], r["column"], r["problem"]) for r in report] == [
        ("3", "Budget", "Enter a number."),
        ("4", "Visit on", "Enter a date as YYYY-MM-DD."),
        ("5", "plan", "Choose one of the options."),
        ("6", "plan", "This field is required."),
    ]


def test_an_unmapped_required_field_is_named_in_the_report(world, alice, fields):
    done = _import(world, alice, b"Name,Budget\nAsha,12\n")
    report = list(csv.DictReader(io.StringIO((done.error_report or "").removeprefix("\ufeff"))))
    assert [(r["row"], r["column"]) for r in report] == [("2", "plan")]


def test_export_has_one_neutralised_column_per_active_field(client, world, alice, fields):
    lead_create(
        workspace=world.a,
        actor=alice,
        name=NAME,
        phone=None,
        email=None,
        source="manual",
        custom_fields={"plan": "Gold", "remarks": '=HYPERLINK("http://evil")', "budget": "-5"},
    )
    custom_field_archive(workspace=world.a, actor=alice, field=fields["visit_on"])
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.get(reverse("leads:export", kwargs={"slug": world.a.slug}))
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode("utf-8-sig"))))
    (row,) = rows
    assert list(row)[-3:] == ["remarks", "budget", "plan"]
    assert row["remarks"] == '\'=HYPERLINK("http://evil")'
    assert row["budget"] == "'-5"
    assert row["plan"] == "Gold"
    assert "visit_on" not in row


def test_a_merge_keeps_the_kept_leads_values_and_fills_gaps(world, alice, fields):
    def make(name, values):
        return lead_create(
            workspace=world.a,
            actor=alice,
            name=name,
            phone=None,
            email=None,
            source="manual",
            custom_fields=values,
        ).lead

    keep = make("Keep", {"plan": "Gold"})
    absorb = make("Absorb", {"plan": "Basic", "budget": "99"})
    merged = lead_merge(workspace=world.a, actor=alice, keep=keep, absorb=absorb, choices={})
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=merged.pk).custom_values == {"plan": "Gold", "budget": "99"}
