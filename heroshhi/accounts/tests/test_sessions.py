"""Session lifetime, the sessions list, logging out everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conftest import World
from heroshhi.accounts.models import UserSession
from heroshhi.accounts.services import user_sessions_end
from heroshhi.accounts.tests.conftest import FrozenClock, assert_no_personal_data, events, login

pytestmark = pytest.mark.django_db


def signed_in_client(email: str, **extra: Any) -> Client:
    client = Client(**extra)
    assert login(client, email).status_code == 302
    return client


def is_signed_in(client: Client) -> bool:
    return client.get("/account/security/").status_code == 200


def test_an_idle_session_ends_after_thirty_minutes(world: World, clock: FrozenClock):
    client = signed_in_client(world.alice.email)
    key = client.session.session_key
    clock.advance(29 * 60)
    assert is_signed_in(client)
    clock.advance(30 * 60 + 1)
    response = client.get("/account/security/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert not UserSession.objects.filter(session_key=key).exists()
    [ended] = events("authn_logout")
    assert (ended.reason, ended.actor_type, ended.target_id) == (
        "idle_timeout",
        "system",
        str(world.alice.pk),
    )


def test_the_idle_limit_follows_the_setting(world: World, clock: FrozenClock, settings):
    settings.HEROSHHI_SESSION_IDLE_SECONDS = 5 * 60
    client = signed_in_client(world.alice.email)
    clock.advance(5 * 60 + 1)
    assert not is_signed_in(client)


def test_the_sign_in_page_says_why_the_session_ended(world: World, clock: FrozenClock):
    client = signed_in_client(world.alice.email)
    clock.advance(31 * 60)
    page = client.get("/account/security/", follow=True)
    assert "signed out after a period of inactivity" in page.content.decode()


def test_a_busy_session_still_ends_at_its_absolute_lifetime(world: World, clock: FrozenClock):
    client = signed_in_client(world.alice.email)
    for _ in range(12 * 4):  # a request every 15 minutes for 12 hours
        assert is_signed_in(client)
        clock.advance(15 * 60)
    clock.advance(1)
    assert not is_signed_in(client)
    assert [e.reason for e in events("authn_logout")] == ["absolute_timeout"]


def test_last_seen_is_refreshed_at_most_once_a_minute(world: World, clock: FrozenClock):
    client = signed_in_client(world.alice.email)
    row = UserSession.objects.get(session_key=client.session.session_key)
    first_seen = row.last_seen_at
    clock.advance(30)
    client.get("/account/security/")
    row.refresh_from_db()
    assert row.last_seen_at == first_seen
    clock.advance(31)
    client.get("/account/security/")
    row.refresh_from_db()
    assert row.last_seen_at > first_seen


def test_a_session_started_elsewhere_is_registered_on_first_use(world: World, client: Client):
    client.force_login(world.alice)
    assert is_signed_in(client)
    assert UserSession.objects.filter(session_key=client.session.session_key).exists()


def test_log_out_everywhere_ends_every_session_of_the_user(world: World):
    laptop = signed_in_client(world.alice.email, HTTP_USER_AGENT="Laptop browser")
    phone = signed_in_client(world.alice.email, HTTP_USER_AGENT="Phone browser")
    bob = signed_in_client(world.bob.email)
    response = laptop.post("/account/security/sessions/end-all/")
    assert response.status_code == 302
    assert not is_signed_in(laptop)
    assert not is_signed_in(phone)
    assert is_signed_in(bob)
    assert not UserSession.objects.filter(user=world.alice).exists()
    [everywhere] = [e for e in events("authn_logout") if e.reason == "everywhere"]
    assert everywhere.metadata == {"sessions_ended": 2}
    assert_no_personal_data(world)


def test_the_security_page_lists_the_users_own_sessions(world: World):
    signed_in_client(world.alice.email, HTTP_USER_AGENT="Alice phone")
    signed_in_client(world.bob.email, HTTP_USER_AGENT="Bob phone")
    laptop = signed_in_client(world.alice.email, HTTP_USER_AGENT="Alice laptop")
    page = laptop.get("/account/security/", HTTP_USER_AGENT="Alice laptop").content.decode()
    assert "Alice phone" in page
    assert "Alice laptop" in page
    assert "Bob phone" not in page
    assert "This browser" in page


def test_user_sessions_end_ends_the_sessions_of_one_user_only(world: World):
    alice_one = signed_in_client(world.alice.email)
    alice_two = signed_in_client(world.alice.email)
    bob = signed_in_client(world.bob.email)
    kept = alice_two.session.session_key
    assert user_sessions_end(user=world.alice, keep_session_key=kept) == 1
    assert not is_signed_in(alice_one)
    assert is_signed_in(alice_two)
    assert is_signed_in(bob)
    assert user_sessions_end(user=world.alice) == 1
    assert not is_signed_in(alice_two)
    assert is_signed_in(bob)


def test_the_security_page_needs_a_signed_in_user(client: Client, world: World):
    response = client.get("/account/security/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
