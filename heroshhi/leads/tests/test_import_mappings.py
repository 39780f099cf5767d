"""Saved CSV column mappings: saved by heading from the mapping step, filled in again for a
file with the same headings, picked from a list, encrypted at rest, audited without names,
and never shared across workspaces."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads import importing
from heroshhi.leads.custom_fields import custom_fields_list
from heroshhi.leads.models import ImportMapping, LeadImport
from heroshhi.leads.services import imports
from heroshhi.leads.services.custom_fields import custom_field_archive, custom_field_create
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db
FILE = b"Customer Name,Mobile No,Remarks,City\nAsha,+919876500001,call,Pune\n"
# The same headings in another order, case and spacing.
SAME_HEADINGS = b"city,  remarks ,MOBILE NO,customer name\nPune,call,+919876500002,Ravi\n"


def _upload(world, workspace, user, actor, data: bytes) -> LeadImport:
    with workspace_scope(workspace):
        member = Membership.objects.get(user=user)
    return imports.lead_import_create(
        workspace=workspace,
        actor=actor,
        member=member,
        upload=SimpleUploadedFile("leads.csv", data, content_type="text/csv"),
    )


def _map_url(workspace, lead_import) -> str:
    return reverse("leads:import_map", kwargs={"slug": workspace.slug, "import_id": lead_import.pk})


def _selected(response) -> dict[str, str]:
    return {c["header"]: c["selected"] for c in response.context["columns"]}


@pytest.fixture
def saved(world, alice):
    """Alice saved "Facebook export": name, phone and the Remarks column → a custom field."""
    custom_field_create(workspace=world.a, actor=alice, label="Remarks", kind="text")
    lead_import = _upload(world, world.a, world.alice, alice, FILE)
    return imports.import_mapping_save(
        workspace=world.a,
        actor=alice,
        member=None,
        lead_import=lead_import,
        name="Facebook export",
        mapping={"0": "name", "1": "phone", "2": "custom:remarks"},
    )


def test_saving_audits_without_names_and_encrypts_headings(world, saved):
    event = AuditEvent.objects.get(action="import_mapping_saved")
    assert event.target_id == str(saved.pk)
    assert event.metadata == {"columns": 3, "replaced": False}
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, mapping FROM leads_importmapping")
        name, mapping = cursor.fetchone()
    assert "Facebook" not in name
    assert "Customer Name" not in mapping
    assert "custom:remarks" not in mapping
    assert saved.mapping["targets"] == {
        "Customer Name": "name",
        "Mobile No": "phone",
        "Remarks": "custom:remarks",
    }


def test_saving_again_under_the_same_name_replaces_it(world, alice, saved):
    lead_import = _upload(world, world.a, world.alice, alice, FILE)
    imports.import_mapping_save(
        workspace=world.a,
        actor=alice,
        member=None,
        lead_import=lead_import,
        name="  facebook   EXPORT ",
        mapping={"0": "name"},
    )
    mappings = importing.import_mappings_list(workspace=world.a)
    assert len(mappings) == 1
    assert mappings[0].mapping["targets"] == {"Customer Name": "name"}


def test_a_bad_mapping_or_name_is_refused_and_nothing_is_saved(world, alice):
    lead_import = _upload(world, world.a, world.alice, alice, FILE)
    with pytest.raises(ValidationError) as bad:
        imports.import_mapping_save(
            workspace=world.a,
            actor=alice,
            member=None,
            lead_import=lead_import,
            name="x",
            mapping={"0": "workspace"},
        )
    assert "mapping" in bad.value.message_dict
    with pytest.raises(ValidationError) as unnamed:
        imports.import_mapping_save(
            workspace=world.a,
            actor=alice,
            member=None,
            lead_import=lead_import,
            name="   ",
            mapping={"0": "name"},
        )
    assert "save_as" in unnamed.value.message_dict
    assert importing.import_mappings_list(workspace=world.a) == []


def test_sales_cannot_save_mappings(world, alice, bob):
    lead_import = _upload(world, world.a, world.alice, alice, FILE)
    with pytest.raises(PermissionDenied):
        imports.import_mapping_save(
            workspace=world.a,
            actor=bob,
            member=None,
            lead_import=lead_import,
            name="mine",
            mapping={"0": "name"},
        )


def test_a_file_with_the_same_headings_gets_the_saved_mapping(client, world, alice, saved):
    lead_import = _upload(world, world.a, world.alice, alice, SAME_HEADINGS)
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.get(_map_url(world.a, lead_import))
    assert response.status_code == 200
    assert response.context["matched"] is True
    assert response.context["saved"].pk == saved.pk
    assert _selected(response) == {
        "city": "",
        "remarks": "custom:remarks",
        "MOBILE NO": "phone",
        "customer name": "name",
    }
    assert "Facebook export" in response.content.decode()


def test_other_headings_get_the_guess_and_the_list_to_pick_from(client, world, alice, saved):
    lead_import = _upload(world, world.a, world.alice, alice, b"Name,Phone,Remarks\nA,1,x\n")
    client.login(email=world.alice.email, password=PASSWORD)
    url = _map_url(world.a, lead_import)
    guessed = client.get(url)
    assert guessed.context["matched"] is False
    assert _selected(guessed) == {"Name": "name", "Phone": "phone", "Remarks": "custom:remarks"}
    assert f'<option value="{saved.pk}"' in guessed.content.decode()
    picked = client.get(url, {"saved": str(saved.pk)})
    # Only "Remarks" is among the saved headings.
    assert _selected(picked) == {"Name": "", "Phone": "", "Remarks": "custom:remarks"}


def test_a_field_archived_since_is_left_out_of_the_saved_mapping(client, world, alice, saved):
    (remarks,) = custom_fields_list(workspace=world.a)
    custom_field_archive(workspace=world.a, actor=alice, field=remarks)
    lead_import = _upload(world, world.a, world.alice, alice, FILE)
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.get(_map_url(world.a, lead_import))
    assert response.context["matched"] is True
    assert _selected(response)["Remarks"] == ""


def test_save_as_on_the_mapping_step_saves_then_starts(client, world, alice):
    lead_import = _upload(world, world.a, world.alice, alice, FILE)
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.post(
        _map_url(world.a, lead_import),
        {"col0": "name", "col1": "phone", "col2": "", "col3": "", "save_as": "Walk-ins"},
    )
    assert response.status_code == 302
    (saved,) = importing.import_mappings_list(workspace=world.a)
    assert saved.name == "Walk-ins"
    assert saved.mapping["targets"] == {"Customer Name": "name", "Mobile No": "phone"}
    with workspace_scope(world.a):
        assert LeadImport.objects.get(pk=lead_import.pk).status == LeadImport.Status.MAPPED


def test_a_bad_mapping_with_save_as_saves_nothing(client, world, alice):
    lead_import = _upload(world, world.a, world.alice, alice, FILE)
    client.login(email=world.alice.email, password=PASSWORD)
    response = client.post(
        _map_url(world.a, lead_import), {"col0": "", "col3": "tags", "save_as": "Broken"}
    )
    assert response.status_code == 400
    assert response.context["save_as"] == "Broken"
    assert importing.import_mappings_list(workspace=world.a) == []


def test_charlie_never_sees_or_uses_alices_mappings(client, world, charlie, saved):
    assert importing.import_mappings_list(workspace=world.b) == []
    lead_import = _upload(world, world.b, world.charlie, charlie, FILE)
    assert (
        importing.saved_mapping_for(workspace=world.b, headers=importing.headers_of(lead_import))
        is None
    )
    client.login(email=world.charlie.email, password=PASSWORD)
    response = client.get(_map_url(world.b, lead_import), {"saved": str(saved.pk)})
    assert response.status_code == 200
    assert response.context["saved"] is None
    assert "Facebook export" not in response.content.decode()
    # Guessed, not Alice's mapping: Remarks is no field of Charlie's.
    assert _selected(response)["Remarks"] == "description"


def test_the_signature_is_keyed_per_workspace(world):
    headers = ["Name", "Phone"]
    a = importing.header_signature(workspace=world.a, headers=headers)
    assert a == importing.header_signature(workspace=world.a, headers=[" phone", "NAME"])
    assert a != importing.header_signature(workspace=world.b, headers=headers)
    assert a != importing.header_signature(workspace=world.a, headers=["Name"])
    with workspace_scope(world.a):
        assert not ImportMapping.objects.exists()
