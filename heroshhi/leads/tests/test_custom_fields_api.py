"""/api/v1/custom-fields: discovery for every key, definitions for owners and managers,
typed errors, audit events, tenant isolation, and fields that work on /api/v1/leads."""

from __future__ import annotations

import pytest

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import CustomField
from heroshhi.leads.services.custom_fields import custom_field_archive, custom_field_create
from heroshhi.leads.tests.conftest import NAME, issue_key
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db
URL = "/api/v1/custom-fields"


@pytest.fixture
def alice_key(world):
    return issue_key(world.a)


@pytest.fixture
def manager_key(world):
    return issue_key(world.a, Role.MANAGER)


@pytest.fixture
def sales_key(world):
    return issue_key(world.a, Role.SALES)


@pytest.fixture
def charlie_key(world):
    return issue_key(world.b)


@pytest.fixture
def fields(world, alice):
    """Workspace A: "remarks" (text), "plan" (choice, required), "old" (archived)."""
    remarks = custom_field_create(workspace=world.a, actor=alice, label="Remarks", kind="text")
    plan = custom_field_create(
        workspace=world.a, actor=alice, label="Plan", kind="choice", choices=["Basic", "Gold"]
    )
    old = custom_field_create(workspace=world.a, actor=alice, label="Old", kind="date")
    custom_field_archive(workspace=world.a, actor=alice, field=old)
    return {"remarks": remarks, "plan": plan, "old": old}


def _post(client, key, body, url=URL):
    return client.post(url, body, content_type="application/json", **key)


def _patch(client, key, field, body):
    return client.patch(f"{URL}/{field.pk}", body, content_type="application/json", **key)


def _fields_in_a(world) -> list[tuple[str, str, int, bool]]:
    with workspace_scope(world.a):
        return sorted(
            (f.key, f.label, f.position, f.archived_at is None) for f in CustomField.objects.all()
        )


def _events(world, action: AuditAction, field_id) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            workspace=world.a, action=action, target_type="custom_field", target_id=str(field_id)
        )
    )


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    return error


# Reading ------------------------------------------------------------------------------------


def test_a_sales_key_lists_the_active_fields_in_order(client, fields, sales_key):
    response = client.get(URL, **sales_key)
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": str(fields["remarks"].pk),
            "key": "remarks",
            "label": "Remarks",
            "kind": "text",
            "choices": [],
            "required": False,
            "position": 0,
            "archived": False,
        },
        {
            "id": str(fields["plan"].pk),
            "key": "plan",
            "label": "Plan",
            "kind": "choice",
            "choices": ["Basic", "Gold"],
            "required": False,
            "position": 1,
            "archived": False,
        },
    ]


@pytest.mark.parametrize("key_fixture", ["alice_key", "manager_key"])
def test_owners_and_managers_can_include_archived_fields(client, fields, key_fixture, request):
    key = request.getfixturevalue(key_fixture)
    body = client.get(URL, {"archived": "1"}, **key).json()
    assert [(item["key"], item["archived"], item["position"]) for item in body] == [
        ("remarks", False, 0),
        ("plan", False, 1),
        ("old", True, None),
    ]


def test_a_sales_key_may_not_list_archived_fields(client, fields, sales_key):
    _error(client.get(URL, {"archived": "1"}, **sales_key), 403, "forbidden")
    _error(client.get(URL, {"archived": "perhaps"}, **sales_key), 422, "validation_error")


# Creating -----------------------------------------------------------------------------------


def test_create_answers_201_and_writes_an_audit_event(client, world, fields, manager_key):
    response = _post(
        client,
        manager_key,
        {"label": "Site visit  on", "kind": "date", "required": True},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"] == "site_visit_on"
    assert body["label"] == "Site visit on"
    assert (body["kind"], body["required"], body["position"], body["archived"]) == (
        "date",
        True,
        2,
        False,
    )
    [event] = _events(world, AuditAction.CUSTOM_FIELD_CREATED, body["id"])
    assert event.actor_type == "api_key"
    assert event.actor_role == Role.MANAGER
    assert event.metadata == {"key": "site_visit_on", "kind": "date"}


def test_a_field_created_through_the_api_is_accepted_on_leads(client, world, alice_key):
    created = _post(
        client,
        alice_key,
        {"label": "Budget", "key": "budget_inr", "kind": "number", "required": True},
    )
    assert created.status_code == 201
    lead = _post(
        client,
        alice_key,
        {"name": NAME, "custom_fields": {"budget_inr": "1,250.50"}},
        url="/api/v1/leads",
    )
    assert lead.status_code == 201, lead.content
    assert lead.json()["lead"]["custom_fields"] == {"budget_inr": "1250.5"}
    # Required now: a lead sent with custom fields must carry it.
    missing = _post(client, alice_key, {"name": NAME, "custom_fields": {}}, url="/api/v1/leads")
    assert "custom_fields.budget_inr" in _error(missing, 422, "validation_error")["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": "  ", "kind": "text"}, "label"),
        ({"label": "x" * 61, "kind": "text"}, "label"),
        ({"label": "Name", "kind": "text"}, "key"),  # reserved for the built-in column
        ({"label": "Remarks", "kind": "text"}, "key"),  # taken
        ({"label": "Legacy", "key": "old", "kind": "text"}, "key"),  # taken by an archived one
        ({"label": "Legacy", "key": "Bad Key", "kind": "text"}, "key"),
        ({"label": "Tier", "kind": "choice"}, "choices"),
        ({"label": "Tier", "kind": "choice", "choices": [" ", ""]}, "choices"),
        ({"label": "Note", "kind": "text", "choices": ["a"]}, "choices"),
        ({"label": "Tier", "kind": "colour"}, "kind"),
        ({"kind": "text"}, "label"),
        ({"label": "Tier", "kind": "text", "required": "yes"}, "required"),
        ({"label": "Tier", "kind": "text", "workspace": "beta"}, "workspace"),
    ],
)
def test_invalid_definitions_are_refused_and_name_the_field(
    client, world, fields, alice_key, body, field
):
    before = _fields_in_a(world)
    error = _error(_post(client, alice_key, body), 422, "validation_error")
    assert field in error["fields"], error
    assert _fields_in_a(world) == before


def test_a_workspace_has_at_most_fifty_fields(client, world, alice):
    for number in range(50):
        custom_field_create(workspace=world.a, actor=alice, label=f"F {number}", kind="text")
    error = _error(
        _post(client, issue_key(world.a), {"label": "One more", "kind": "text"}),
        422,
        "validation_error",
    )
    assert "at most 50" in error["fields"]["label"][0]


# Changing -----------------------------------------------------------------------------------


def test_patch_changes_only_what_is_given_and_is_audited(client, world, fields, alice_key):
    plan = fields["plan"]
    response = _patch(
        client, alice_key, plan, {"choices": ["Basic", "Gold", "Platinum"], "required": True}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["label"], body["choices"], body["required"]) == (
        "Plan",
        ["Basic", "Gold", "Platinum"],
        True,
    )
    [event] = _events(world, AuditAction.CUSTOM_FIELD_UPDATED, plan.pk)
    assert event.metadata == {"key": "plan", "kind": "choice", "fields": ["choices", "required"]}
    # The same values again change nothing and write nothing.
    assert _patch(client, alice_key, plan, {"required": True}).status_code == 200
    assert len(_events(world, AuditAction.CUSTOM_FIELD_UPDATED, plan.pk)) == 1


def test_patch_position_reorders_the_active_fields(client, world, fields, alice_key):
    extra = _post(client, alice_key, {"label": "Extra", "kind": "text"}).json()
    assert extra["position"] == 2
    moved = _patch(client, alice_key, fields["plan"], {"position": 0})
    assert moved.json()["position"] == 0
    assert [f["key"] for f in client.get(URL, **alice_key).json()] == ["plan", "remarks", "extra"]
    [event] = _events(world, AuditAction.CUSTOM_FIELD_UPDATED, fields["plan"].pk)
    assert event.metadata["fields"] == ["position"]
    # Past the end means last.
    assert _patch(client, alice_key, fields["plan"], {"position": 40}).json()["position"] == 2
    listed = client.get(URL, **alice_key).json()
    assert [(f["key"], f["position"]) for f in listed] == [
        ("remarks", 0),
        ("extra", 1),
        ("plan", 2),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": ""}, "label"),
        ({"label": None}, "label"),
        ({"required": None}, "required"),
        ({"position": -1}, "position"),
        ({"position": "1"}, "position"),
        ({"choices": []}, "choices"),
        ({"key": "tier"}, "key"),  # the key never changes
        ({"kind": "text"}, "kind"),  # nor the kind
    ],
)
def test_invalid_changes_are_refused_and_change_nothing(
    client, world, fields, alice_key, body, field
):
    before = _fields_in_a(world)
    error = _error(_patch(client, alice_key, fields["plan"], body), 422, "validation_error")
    assert field in error["fields"], error
    assert _fields_in_a(world) == before


def test_options_on_a_text_field_are_refused(client, fields, alice_key):
    error = _error(
        _patch(client, alice_key, fields["remarks"], {"choices": ["a"]}), 422, "validation_error"
    )
    assert "choices" in error["fields"]


def test_a_refused_move_discards_the_whole_change(client, world, fields, alice_key):
    """Moving an archived field fails, and the label sent with it is not saved either."""
    before = _fields_in_a(world)
    error = _error(
        _patch(client, alice_key, fields["old"], {"label": "Renamed", "position": 0}),
        422,
        "validation_error",
    )
    assert error["fields"] == {"position": ["Restore the field before moving it."]}
    assert _fields_in_a(world) == before
    assert _events(world, AuditAction.CUSTOM_FIELD_UPDATED, fields["old"].pk) == []


def test_archive_hides_the_field_and_restore_brings_it_back_last(client, world, fields, alice_key):
    lead = _post(
        client,
        alice_key,
        {"name": NAME, "custom_fields": {"remarks": "Wants a call"}},
        url="/api/v1/leads",
    ).json()["lead"]
    remarks = fields["remarks"]

    archived = client.post(f"{URL}/{remarks.pk}/archive", **alice_key)
    assert archived.status_code == 200
    assert (archived.json()["archived"], archived.json()["position"]) == (True, None)
    [event] = _events(world, AuditAction.CUSTOM_FIELD_DELETED, remarks.pk)
    assert event.metadata == {"key": "remarks", "kind": "text", "mode": "archived"}
    assert [f["key"] for f in client.get(URL, **alice_key).json()] == ["plan"]
    lead_url = f"/api/v1/leads/{lead['id']}"
    assert client.get(lead_url, **alice_key).json()["custom_fields"] == {}
    refused = _post(client, alice_key, {"custom_fields": {"remarks": "x"}}, url="/api/v1/leads")
    assert "custom_fields.remarks" in _error(refused, 422, "validation_error")["fields"]

    restored = client.post(f"{URL}/{remarks.pk}/restore", **alice_key)
    assert restored.status_code == 200
    assert (restored.json()["archived"], restored.json()["position"]) == (False, 1)
    [event] = _events(world, AuditAction.CUSTOM_FIELD_UPDATED, remarks.pk)
    assert event.metadata["fields"] == ["archived_at"]
    assert client.get(lead_url, **alice_key).json()["custom_fields"] == {"remarks": "Wants a call"}


# Roles and tenants --------------------------------------------------------------------------


def test_a_sales_key_may_read_but_not_change_definitions(client, world, fields, sales_key):
    before = _fields_in_a(world)
    events_before = AuditEvent.objects.filter(workspace=world.a).count()
    plan = fields["plan"]
    _error(_post(client, sales_key, {"label": "Tier", "kind": "text"}), 403, "forbidden")
    _error(_patch(client, sales_key, plan, {"label": "Mine"}), 403, "forbidden")
    _error(client.post(f"{URL}/{plan.pk}/archive", **sales_key), 403, "forbidden")
    _error(client.post(f"{URL}/{fields['old'].pk}/restore", **sales_key), 403, "forbidden")
    assert _fields_in_a(world) == before
    assert AuditEvent.objects.filter(workspace=world.a).count() == events_before


def test_charlie_gets_404_for_alices_fields_and_sees_none(client, world, fields, charlie_key):
    before = _fields_in_a(world)
    plan = fields["plan"]
    _error(_patch(client, charlie_key, plan, {"label": "Mine"}), 404, "not_found")
    _error(client.post(f"{URL}/{plan.pk}/archive", **charlie_key), 404, "not_found")
    _error(client.post(f"{URL}/{fields['old'].pk}/restore", **charlie_key), 404, "not_found")
    _error(client.post(f"{URL}/not-a-uuid/archive", **charlie_key), 404, "not_found")
    assert client.get(URL, {"archived": "1"}, **charlie_key).json() == []
    assert _fields_in_a(world) == before


def test_keys_are_per_workspace(client, world, fields, alice_key, charlie_key):
    """Charlie may use Alice's key names; each workspace's leads take only its own fields."""
    created = _post(client, charlie_key, {"label": "Plan", "kind": "text"})
    assert created.status_code == 201
    assert created.json()["key"] == "plan"
    assert _post(client, charlie_key, {"label": "Tier", "kind": "text"}).status_code == 201
    assert _fields_in_a(world) == sorted(
        [("old", "Old", 2, False), ("plan", "Plan", 1, True), ("remarks", "Remarks", 0, True)]
    )
    # Alice's lead API knows nothing of Charlie's "tier", and her "plan" is still a choice.
    refused = _post(
        client, alice_key, {"name": NAME, "custom_fields": {"tier": "x"}}, url="/api/v1/leads"
    )
    assert "custom_fields.tier" in _error(refused, 422, "validation_error")["fields"]
    wrong = _post(
        client, alice_key, {"name": NAME, "custom_fields": {"plan": "x"}}, url="/api/v1/leads"
    )
    assert "custom_fields.plan" in _error(wrong, 422, "validation_error")["fields"]
