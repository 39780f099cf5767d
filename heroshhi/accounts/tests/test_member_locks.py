"""The owner's view of locked members on the security page, and the unlock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.utils import timezone

from conftest import World
from heroshhi.accounts import lockout
from heroshhi.accounts.tests.conftest import FrozenClock, assert_no_personal_data, events, login

pytestmark = pytest.mark.django_db

WRONG = "not the password at all"
SECURITY = "/account/security/"
# Locks are made from another network, so the owner can still sign in from the usual one.
LOCKED_IP = "198.51.100.66"


def signed_in_client(email: str) -> Client:
    client = Client()
    assert login(client, email).status_code == 302
    return client


def lock_out(email: str) -> Client:
    """Five wrong passwords from one browser: the pair lock of that address and network."""
    client = Client(REMOTE_ADDR=LOCKED_IP)
    for _ in range(lockout.LOGIN_PAIR.threshold):
        assert login(client, email, WRONG).status_code == 200
    return client


def unlock_url(world: World, user_id: object, slug: str = "alpha") -> str:
    return f"/account/security/workspaces/{slug}/members/{user_id}/unlock/"


def test_the_owner_sees_a_locked_member_and_when_the_lock_ends(world: World, clock: FrozenClock):
    alice = signed_in_client(world.alice.email)
    page = alice.get(SECURITY).content.decode()
    assert "Locked sign-ins" in page
    assert "No member of Alpha Traders is locked out." in page

    lock_out(world.bob.email)
    ends = timezone.localtime(
        datetime.fromtimestamp(clock.now + lockout.LOGIN_PAIR.cooloff_seconds, tz=UTC)
    )

    page = alice.get(SECURITY).content.decode()
    assert world.bob.email in page
    assert f'<time datetime="{ends.isoformat()}">' in page
    assert unlock_url(world, world.bob.pk) in page
    assert "is locked out." not in page


def test_members_of_other_workspaces_and_addresses_without_a_lock_are_not_listed(
    world: World, clock: FrozenClock
):
    lock_out(world.charlie.email)
    lock_out("nobody@nowhere.example")
    page = signed_in_client(world.alice.email).get(SECURITY).content.decode()
    assert world.charlie.email not in page
    assert "nobody@nowhere.example" not in page
    assert world.bob.email not in page


def test_a_sales_member_does_not_see_the_section(world: World, clock: FrozenClock):
    lock_out(world.alice.email)
    page = signed_in_client(world.bob.email).get(SECURITY).content.decode()
    assert "Locked sign-ins" not in page
    assert world.alice.email not in page


def test_the_owner_unlocks_a_member_who_then_signs_in_and_it_is_audited(
    world: World, clock: FrozenClock, django_capture_on_commit_callbacks
):
    bob = lock_out(world.bob.email)
    assert login(bob, world.bob.email).status_code == 200  # locked, even with the password
    alice = signed_in_client(world.alice.email)

    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(unlock_url(world, world.bob.pk))

    assert (response.status_code, response["Location"]) == (302, SECURITY)
    page = alice.get(SECURITY).content.decode()
    assert "The sign-in lock has ended. They can sign in again now." in page
    assert world.bob.email not in page
    assert login(bob, world.bob.email).status_code == 302
    [released] = events("authn_lockout_released")
    # The lock starting and the owner ending it are two kinds of event, not one.
    assert {e.outcome for e in events("authn_lockout")} == {"denied"}
    assert (released.workspace_id, released.actor_id, released.target_id, released.outcome) == (
        world.a.pk,
        str(world.alice.pk),
        str(world.bob.pk),
        "success",
    )
    assert_no_personal_data(world)


def test_only_the_owner_may_unlock_and_only_members_of_her_workspace(
    world: World, clock: FrozenClock
):
    lock_out(world.alice.email)
    lock_out(world.charlie.email)
    bob = signed_in_client(world.bob.email)
    assert bob.post(unlock_url(world, world.alice.pk)).status_code == 403
    alice = signed_in_client(world.alice.email)
    assert alice.post(unlock_url(world, world.charlie.pk)).status_code == 404
    assert alice.post(unlock_url(world, world.bob.pk, slug="beta")).status_code == 404
    assert alice.get(unlock_url(world, world.bob.pk)).status_code == 302  # nothing changes
    assert not events("authn_lockout_released")
    assert set(lockout.accounts_locked_until(emails=[world.alice.email, world.charlie.email])) == {
        world.alice.email,
        world.charlie.email,
    }
