"""leads_create_many: lead_create's rules for many leads in one transaction."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from conftest import PASSWORD
from heroshhi.accounts.services import user_create
from heroshhi.audit.models import AuditEvent
from heroshhi.audit.services import chain_for
from heroshhi.audit.verify import verify_chain
from heroshhi.core.actors import Actor, ActorType
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.assignment import round_robin_position
from heroshhi.leads.models import AssignmentSettings, Lead, TimelineEvent
from heroshhi.leads.selectors import LeadFilters, leads_list, viewer_for
from heroshhi.leads.services.assignment import assignment_settings_update
from heroshhi.leads.services.batch import BATCH_MAX, ItemStatus, LeadItem, leads_create_many
from heroshhi.leads.services.custom_fields import custom_field_create
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.stages import stages_ensure_defaults
from heroshhi.leads.tests.conftest import EMAIL, NAME, PHONE
from heroshhi.workspaces.models import Membership
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create

pytestmark = pytest.mark.django_db


def _many(world, actor, *items, workspace=None):
    return leads_create_many(workspace=workspace or world.a, actor=actor, items=list(items))


def _timeline(world, lead, workspace=None):
    with workspace_scope(workspace or world.a):
        return list(
            TimelineEvent.objects.filter(lead=lead)
            .order_by("created_at", "id")
            .values_list("kind", "data")
        )


def test_valid_items_are_created_and_invalid_ones_report_typed_field_errors(world, alice):
    results = _many(
        world,
        alice,
        LeadItem(name=NAME, phone="98765 43210", source="api", tags=["Hot"]),
        LeadItem(name="No way to reach", phone="12", email="not-an-email", source="api"),
        LeadItem(source="api"),
        LeadItem(name="Ravi", source="carrier-pigeon", stage="not-a-uuid", deal_value="-5"),
        LeadItem(name="Meera", email=EMAIL, source="facebook_ads"),
    )

    assert [r.status for r in results] == [
        ItemStatus.CREATED,
        ItemStatus.ERROR,
        ItemStatus.ERROR,
        ItemStatus.ERROR,
        ItemStatus.CREATED,
    ]
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert results[1].code == "validation_error"
    assert set(results[1].errors) == {"phone", "email"}
    assert set(results[2].errors) == {"name"}
    assert set(results[3].errors) == {"source", "stage", "deal_value"}
    # Messages name the problem, never the value.
    assert "not-an-email" not in str(results[1].errors)
    with workspace_scope(world.a):
        assert Lead.objects.count() == 2
        first = Lead.objects.get(pk=results[0].lead.pk)
        assert (first.phone, first.source, first.stage.name) == (PHONE, "api", "New")
        assert [t.name for t in first.tags.all()] == ["hot"]
    assert _timeline(world, first) == [("created", {"source": "api", "fields": ["name", "phone"]})]


def test_in_batch_duplicates_merge_into_the_first_like_sequential_creates(world, alice):
    results = _many(
        world,
        alice,
        LeadItem(name=NAME, phone=PHONE, source="api"),
        # Same phone typed differently: fills the e-mail of the lead made just above.
        LeadItem(phone="098765-43210", email=EMAIL, deal_value="1500", source="whatsapp"),
        # Found through the e-mail the previous item filled in.
        LeadItem(name="Someone else", email=EMAIL.upper(), source="api"),
    )

    assert [r.status for r in results] == [
        ItemStatus.CREATED,
        ItemStatus.DEDUPLICATED,
        ItemStatus.DEDUPLICATED,
    ]
    assert len({r.lead.pk for r in results}) == 1
    with workspace_scope(world.a):
        lead = Lead.objects.get()
    assert (lead.name, lead.phone, lead.email, str(lead.deal_value)) == (
        NAME,
        PHONE,
        EMAIL,
        "1500.00",
    )
    assert _timeline(world, lead) == [
        ("created", {"source": "api", "fields": ["name", "phone"]}),
        ("enquired_again", {"source": "whatsapp", "fields": ["email", "deal_value"]}),
        ("enquired_again", {"source": "api", "fields": []}),
    ]


def test_duplicates_of_existing_leads_are_enquired_again_and_filled(world, alice, make_lead):
    by_phone = make_lead(name=None, phone=PHONE)
    by_email = make_lead(name="Meera Nair", email=EMAIL)
    trashed_phone = "+919811111111"
    lead_gone = make_lead(name="Gone", phone=trashed_phone)
    from heroshhi.leads.services.trash import lead_trash

    lead_trash(workspace=world.a, actor=alice, lead=lead_gone)

    results = _many(
        world,
        alice,
        LeadItem(name="Priya Sharma", phone="9876543210", source="google_ads"),
        LeadItem(name="Other name", email=EMAIL, phone="+919822222222", source="api"),
        LeadItem(name="Back again", phone=trashed_phone, source="api"),
    )

    assert [r.status for r in results] == [
        ItemStatus.DEDUPLICATED,
        ItemStatus.DEDUPLICATED,
        ItemStatus.CREATED,  # a trashed lead is no duplicate
    ]
    assert results[0].lead.pk == by_phone.pk
    assert results[1].lead.pk == by_email.pk
    with workspace_scope(world.a):
        by_phone.refresh_from_db()
        by_email.refresh_from_db()
    assert by_phone.name == "Priya Sharma"  # was empty
    assert (by_email.name, by_email.phone) == ("Meera Nair", "+919822222222")  # name kept
    assert _timeline(world, by_email)[-1] == (
        "enquired_again",
        {"source": "api", "fields": ["phone"]},
    )
    # The filled-in name is searchable; the filled-in phone finds its lead.
    with workspace_scope(world.a):
        owner = viewer_for(actor=alice)
        found = leads_list(workspace=world.a, viewer=owner, filters=LeadFilters(q="Priya")).items
        assert [lead.pk for lead in found] == [by_phone.pk]
    again = _many(world, alice, LeadItem(phone="+91 98222 22222", source="api"))
    assert again[0].lead.pk == by_email.pk


def test_round_robin_hands_out_turns_across_the_batch_like_single_creates(
    world, alice, bob_member, make_lead
):
    dev = membership_create(
        workspace=world.a,
        user=user_create(email="dev@a.example", password=PASSWORD, full_name="Dev"),
        role=Role.SALES,
    )
    assignment_settings_update(
        workspace=world.a,
        actor=alice,
        mode=AssignmentSettings.Mode.ROUND_ROBIN,
        sales_see_unassigned_pool=False,
        source_members={},
    )
    with workspace_scope(world.a):
        alice_member = Membership.objects.get(user=world.alice)
    single = [make_lead(name="Single one").owner_id, make_lead(name="Single two").owner_id]

    results = _many(
        world,
        alice,
        LeadItem(name="A", source="api"),
        LeadItem(name="B", source="api", owner=str(alice_member.pk)),  # takes no turn
        LeadItem(name="C", source="api"),
        LeadItem(name="D", source="api"),
        LeadItem(name="E", source="api"),
    )

    owners = [r.lead.owner_id for r in results]
    assert single == [bob_member.pk, dev.pk]
    assert owners == [bob_member.pk, alice_member.pk, dev.pk, bob_member.pk, dev.pk]
    with workspace_scope(world.a):
        assert round_robin_position(workspace=world.a) == 6
        stored = dict(Lead.objects.values_list("name_tokens__lead_id", "owner_id"))
    assert all(stored[r.lead.pk] == r.lead.owner_id for r in results)


def test_by_source_rule_applies_per_item(world, alice, bob_member):
    assignment_settings_update(
        workspace=world.a,
        actor=alice,
        mode=AssignmentSettings.Mode.BY_SOURCE,
        sales_see_unassigned_pool=False,
        source_members={"facebook_ads": bob_member},
    )
    results = _many(
        world,
        alice,
        LeadItem(name="Ad lead", source="facebook_ads"),
        LeadItem(name="Api lead", source="api"),  # falls back to round robin: Bob
    )
    assert [r.lead.owner_id for r in results] == [bob_member.pk, bob_member.pk]
    assert round_robin_position(workspace=world.a) == 1


def test_one_audit_event_per_lead_without_personal_data_and_the_chain_verifies(
    world, alice, make_lead
):
    existing = make_lead(name=None, phone=PHONE)
    before = AuditEvent.objects.filter(workspace_id=world.a.pk).count()

    results = _many(
        world,
        alice,
        LeadItem(name=NAME, phone=PHONE, email=EMAIL, source="api"),
        LeadItem(name="Ravi Kumar", phone="+919833333333", email="ravi@example.in", source="api"),
        LeadItem(name="Broken", email="broken@", source="api"),
        LeadItem(name="Zoya Khan", phone="+919844444444", source="api", tags=["vip", "hot"]),
    )

    events = list(AuditEvent.objects.filter(workspace_id=world.a.pk).order_by("seq")[before:])
    assert [(e.action, e.target_id, e.reason) for e in events] == [
        ("lead_updated", str(existing.pk), "enquired_again"),
        ("lead_created", str(results[1].lead.pk), ""),
        ("lead_created", str(results[3].lead.pk), ""),
    ]
    assert events[2].metadata == {"source": "api", "fields": ["name", "phone"], "tags": 2}
    dumped = str([(e.metadata, e.target_id, e.reason) for e in events])
    for personal in ("Priya", "Ravi", "Zoya", "98765", "98333", "ravi@", EMAIL):
        assert personal not in dumped
    assert verify_chain(chain_for(world.a)).ok


def test_sales_actor_semantics_match_single_create(world, bob, bob_member, alice):
    with workspace_scope(world.a):
        alice_member = Membership.objects.get(user=world.alice)
    with pytest.raises(PermissionDenied):
        lead_create(
            workspace=world.a,
            actor=bob,
            name="Single",
            phone=None,
            email=None,
            source="manual",
            owner=alice_member,
        )

    results = _many(
        world,
        bob,
        LeadItem(name="Mine", source="manual"),
        LeadItem(name="For Alice", source="manual", owner=alice_member),
        LeadItem(name="For me", source="manual", owner=str(bob_member.pk)),
    )

    assert results[0].lead.owner_id == bob_member.pk
    assert (results[1].status, results[1].code) == (ItemStatus.ERROR, "forbidden")
    assert set(results[1].errors) == {"owner"}
    assert results[2].lead.owner_id == bob_member.pk
    with workspace_scope(world.a):
        assert Lead.objects.count() == 2


def test_a_sales_key_without_member_leaves_new_leads_to_the_rules(world, bob_member, alice):
    key_actor = Actor(type=ActorType.API_KEY, id="key", role=Role.SALES)
    results = _many(world, key_actor, LeadItem(name="From a form", source="webhook"))
    assert results[0].status == ItemStatus.CREATED
    assert results[0].lead.owner_id is None


def test_three_tenants_stay_apart(world, alice, charlie, make_lead):
    alices = make_lead(name=NAME, phone=PHONE)
    with workspace_scope(world.a):
        alice_stage = stages_ensure_defaults(workspace=world.a)[1]
        alice_member = Membership.objects.get(user=world.alice)
    before = _timeline(world, alices)

    results = _many(
        world,
        charlie,
        LeadItem(name="Charlie's copy", phone=PHONE, source="api"),
        LeadItem(name="Staged", source="api", stage=str(alice_stage.pk)),
        LeadItem(name="Staged object", source="api", stage=alice_stage),
        LeadItem(name="Owned", source="api", owner=str(alice_member.pk)),
        LeadItem(name="Owned object", source="api", owner=alice_member),
        workspace=world.b,
    )

    assert results[0].status == ItemStatus.CREATED
    assert results[0].lead.workspace_id == world.b.pk
    assert [r.status for r in results[1:]] == [ItemStatus.ERROR] * 4
    assert [set(r.errors) for r in results[1:]] == [{"stage"}, {"stage"}, {"owner"}, {"owner"}]
    assert _timeline(world, alices) == before
    with workspace_scope(world.a):
        assert Lead.objects.count() == 1


def test_custom_fields_follow_single_create_rules(world, alice):
    custom_field_create(workspace=world.a, actor=alice, label="Budget", kind="number")
    custom_field_create(workspace=world.a, actor=alice, label="City", kind="text", required=True)
    results = _many(
        world,
        alice,
        LeadItem(name="Machine lead", source="webhook"),  # no custom fields sent: fine
        LeadItem(name="Typed", source="api", custom_fields={"budget": "12,500", "city": "Pune"}),
        LeadItem(name="Missing city", source="api", custom_fields={"budget": "1"}),
        LeadItem(name="Bad", source="api", custom_fields={"budget": "lots", "nope": "x"}),
    )
    assert [r.status for r in results] == [
        ItemStatus.CREATED,
        ItemStatus.CREATED,
        ItemStatus.ERROR,
        ItemStatus.ERROR,
    ]
    assert results[1].lead.custom_values == {"budget": "12500", "city": "Pune"}
    assert set(results[2].errors) == {"custom_fields.city"}
    assert set(results[3].errors) == {
        "custom_fields.budget",
        "custom_fields.nope",
        "custom_fields.city",
    }


def test_batch_size_is_bounded_and_the_role_is_checked(world, alice):
    with pytest.raises(ValidationError) as too_many:
        _many(world, alice, *[LeadItem(name=f"L{n}", source="api") for n in range(BATCH_MAX + 1)])
    assert "items" in too_many.value.message_dict
    with pytest.raises(ValidationError):
        _many(world, alice)
    with pytest.raises(PermissionDenied):
        _many(world, Actor.user(world.alice.pk, role=None), LeadItem(name="X", source="api"))
    with workspace_scope(world.a):
        assert Lead.objects.count() == 0


def test_the_batch_reads_and_writes_in_a_fixed_number_of_queries(
    world, alice, make_lead, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    # Workspace keys are cached once the transaction that made them commits.
    with django_capture_on_commit_callbacks(execute=True):
        make_lead(name="Existing", phone=PHONE)
    items = [
        LeadItem(name=f"Lead {n}", phone=f"+9198{n:08d}", source="api", tags=["hot", f"t{n % 3}"])
        for n in range(200)
    ]
    items.append(LeadItem(name="Again", phone=PHONE, source="api"))
    with django_assert_max_num_queries(25):
        results = _many(world, alice, *items)
    assert sum(r.status == ItemStatus.CREATED for r in results) == 200
