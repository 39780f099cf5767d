"""A member who leaves hands their leads back to the pool or to a chosen colleague."""

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.workspaces.models import Membership
from heroshhi.workspaces.services import member_remove


def test_removing_a_member_returns_their_leads_to_the_pool(world, alice, bob_member, make_lead):
    lead = make_lead(owner=bob_member)
    bob_member_id = str(bob_member.pk)
    member_remove(workspace=world.a, actor=alice, member=bob_member)
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).owner_id is None
        entry = TimelineEvent.objects.filter(lead=lead, kind="assigned").latest("created_at")
    assert entry.data == {"from": bob_member_id, "to": None}


def test_removing_a_member_can_hand_their_leads_to_a_colleague(world, alice, bob_member, make_lead):
    lead = make_lead(owner=bob_member)
    with workspace_scope(world.a):
        alice_member = Membership.objects.get(user=world.alice)
    member_remove(workspace=world.a, actor=alice, member=bob_member, reassign_to=alice_member)
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=lead.pk).owner_id == alice_member.pk
