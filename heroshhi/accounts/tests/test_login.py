"""Password sign-in: throttles, uniform errors, session rotation, audit."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import pytest
from django.test import Client

from conftest import PASSWORD, World
from heroshhi.accounts import lockout
from heroshhi.accounts.forms import INVALID_LOGIN
from heroshhi.accounts.models import User, UserSession
from heroshhi.accounts.tests.conftest import FrozenClock, assert_no_personal_data, events, login

pytestmark = pytest.mark.django_db

WRONG = "not the password at all"
ERROR_BLOCK = re.compile(r'<div class="alert alert--danger" role="alert">.*?</div>', re.S)


def error_html(response) -> str:
    match = ERROR_BLOCK.search(response.content.decode())
    assert match, "no sign-in error shown"
    return match.group(0)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail_times(client: Client, email: str, times: int, **extra: Any) -> None:
    for _ in range(times):
        response = login(client, email, WRONG, **extra)
        assert response.status_code == 200


def test_it_signs_in_with_the_right_password_and_rotates_the_session_key(client, world: World):
    client.get("/accounts/login/")
    client.session.save()
    before = client.session.session_key
    response = login(client, world.alice.email)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in(client)
    assert client.session.session_key != before


def test_it_updates_last_login_and_registers_the_session(client, world: World):
    assert world.alice.last_login is None
    login(client, "  ALICE@a.example ")
    world.alice.refresh_from_db()
    assert world.alice.last_login is not None
    assert UserSession.objects.filter(
        user=world.alice, session_key=client.session.session_key
    ).exists()


def test_the_session_cookie_is_httponly_and_samesite_lax(client, world: World):
    response = login(client, world.alice.email)
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_unknown_email_and_wrong_password_get_identical_error_html(client, world: World):
    unknown = login(client, "nobody@nowhere.example", WRONG)
    wrong = login(client, world.alice.email, WRONG)
    assert error_html(unknown) == error_html(wrong)
    assert str(INVALID_LOGIN) in error_html(wrong)


def test_a_disabled_account_gets_the_same_error_even_with_the_right_password(client, world):
    User.objects.filter(pk=world.bob.pk).update(is_active=False)
    disabled = login(client, world.bob.email)
    wrong = login(client, world.alice.email, WRONG)
    assert error_html(disabled) == error_html(wrong)


def test_it_locks_the_pair_after_five_failures_and_refuses_the_right_password_alike(
    client, world: World, clock: FrozenClock
):
    fail_times(client, world.alice.email, 4)
    wrong = login(client, world.alice.email, WRONG)  # the fifth failure starts the cool-off
    refused = login(client, world.alice.email)
    assert refused.status_code == 200
    assert not signed_in(client)
    assert error_html(refused) == error_html(wrong)


CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
NONCE = re.compile(r' nonce="[^"]+"')


def page_without(response, typed_email: str) -> str:
    """The page minus what differs on every response (CSRF token, CSP nonce) and the
    address the visitor typed, which the form shows back to them."""
    page = CSRF_TOKEN.sub("", NONCE.sub("", response.content.decode()))
    return page.replace(typed_email, "EMAIL")


def test_after_the_limit_every_address_is_told_the_same_wait_and_the_way_out(
    world: World, clock: FrozenClock
):
    pages = {}
    for email in (world.alice.email, "nobody@nowhere.example"):
        client = Client()
        fail_times(client, email, 4)
        fifth = login(client, email, WRONG)
        right_password = login(client, email)
        assert (fifth.status_code, right_password.status_code) == (200, 200)
        pages[email] = [page_without(fifth, email), page_without(right_password, email)]
        message = error_html(right_password)
        assert "Too many attempts. Try again in 15 minutes or" in message
        assert '<a href="/accounts/password/reset/">reset your password</a>' in message
        assert str(INVALID_LOGIN) not in message
    assert pages[world.alice.email] == pages["nobody@nowhere.example"]
    assert pages[world.alice.email][0] == pages[world.alice.email][1]


def test_the_wait_counts_down_in_whole_minutes_rounded_up(client, world: World, clock: FrozenClock):
    fail_times(client, world.alice.email, 5)
    clock.advance(5 * 60 + 1)  # 599 s left
    assert "Try again in 10 minutes or" in error_html(login(client, world.alice.email))
    clock.advance(9 * 60 + 30)  # 29 s left
    assert "Try again in 1 minute or" in error_html(login(client, world.alice.email))


def test_a_wrong_password_before_the_limit_gets_the_plain_error(client, world: World, clock):
    fail_times(client, world.alice.email, 3)
    message = error_html(login(client, world.alice.email, WRONG))
    assert str(INVALID_LOGIN) in message
    assert "Too many attempts" not in message


def test_a_password_reset_lets_the_owner_in_from_the_network_the_lock_was_on(
    client, world: World, clock: FrozenClock
):
    fail_times(client, world.alice.email, 5)
    lockout.account_release(email=world.alice.email)  # what completing a reset does
    assert login(client, world.alice.email).status_code == 302


def test_it_lets_the_right_password_in_again_after_the_cool_off(
    client, world: World, clock: FrozenClock
):
    fail_times(client, world.alice.email, 5)
    clock.advance(14 * 60)
    assert login(client, world.alice.email).status_code == 200
    clock.advance(61)
    assert login(client, world.alice.email).status_code == 302
    assert signed_in(client)


def test_after_the_cool_off_the_count_starts_afresh(client, world: World, clock: FrozenClock):
    fail_times(client, world.alice.email, 5)
    clock.advance(15 * 60 + 1)
    fail_times(client, world.alice.email, 4)
    assert login(client, world.alice.email).status_code == 302


def test_four_failures_then_success_clears_the_count(client, world: World, clock: FrozenClock):
    fail_times(client, world.alice.email, 4)
    assert login(client, world.alice.email).status_code == 302
    other = Client()
    fail_times(other, world.alice.email, 4)
    assert login(other, world.alice.email).status_code == 302


def test_the_pair_lock_does_not_lock_the_owner_out_from_another_address(
    client, world: World, clock: FrozenClock
):
    fail_times(client, world.alice.email, 5, REMOTE_ADDR="198.51.100.66")
    assert login(client, world.alice.email, REMOTE_ADDR="203.0.113.10").status_code == 302


@pytest.mark.parametrize("header", ["10.9.9.9", "1.1.1.1, 2.2.2.2"])
def test_a_spoofed_forwarded_for_does_not_escape_the_lock_without_proxies(
    client, world: World, clock: FrozenClock, settings, header: str
):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(5):
        login(client, world.alice.email, WRONG, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    refused = login(client, world.alice.email, HTTP_X_FORWARDED_FOR=header)
    assert refused.status_code == 200
    assert not signed_in(client)


def test_rotating_the_left_of_forwarded_for_does_not_escape_the_lock_behind_a_proxy(
    client, world: World, clock: FrozenClock, settings
):
    settings.TRUSTED_PROXY_COUNT = 1
    # The proxy's address is declared, as docs/deploy-tls.md asks of a proxy on another host.
    settings.FORWARDED_ALLOW_NETWORKS = [ipaddress.ip_network("10.0.0.2")]
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for n in range(5):
        spoofed = f"192.0.2.{n}, 203.0.113.7"  # our proxy appended the real client last
        login(client, world.alice.email, WRONG, HTTP_X_FORWARDED_FOR=spoofed, **proxy)
    refused = login(
        client, world.alice.email, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7", **proxy
    )
    assert refused.status_code == 200
    assert not signed_in(client)
    # A different real client behind the same proxy is not affected.
    other = login(client, world.alice.email, HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy)
    assert other.status_code == 302


def test_the_ip_ceiling_stops_one_address_trying_many_emails(
    client, world: World, clock: FrozenClock
):
    for n in range(50):
        # Four tries per address: never five on one pair.
        email = f"target{n // 4}@spray.example"
        assert login(client, email, WRONG).status_code == 200
    refused = login(client, world.alice.email)
    assert refused.status_code == 200
    assert not signed_in(client)
    assert login(client, world.alice.email, REMOTE_ADDR="203.0.113.99").status_code == 302
    clock.advance(15 * 60 + 1)
    assert login(client, world.alice.email).status_code == 302


def test_the_account_cap_stops_guessing_spread_over_many_addresses(
    client, world: World, clock: FrozenClock
):
    for n in range(100):
        login(client, world.alice.email, WRONG, REMOTE_ADDR=f"198.51.{n // 4}.{n % 4 + 1}")
    refused = login(client, world.alice.email, REMOTE_ADDR="203.0.113.200")
    assert refused.status_code == 200
    assert not signed_in(client)
    lockouts = {e.reason for e in events("authn_lockout")}
    assert "login-account" in lockouts


def test_it_follows_a_local_next_and_ignores_a_foreign_one(client, world: World):
    local = client.post(
        "/accounts/login/",
        {"username": world.alice.email, "password": PASSWORD, "next": "/w/alpha/"},
    )
    assert local["Location"] == "/w/alpha/"
    other = Client()
    foreign = other.post(
        "/accounts/login/",
        {"username": world.alice.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert foreign["Location"] == "/"


def test_it_audits_success_failure_and_lockout_without_email(
    client, world: World, clock: FrozenClock
):
    login(client, "nobody@nowhere.example", WRONG)
    fail_times(client, world.alice.email, 5)
    login(client, world.alice.email)  # refused: cool-off
    login(Client(), world.bob.email)

    failures = events("authn_login_fail")
    assert [(e.reason, e.target_id) for e in failures] == [
        ("unknown_account", ""),
        *[("bad_password", str(world.alice.pk))] * 5,
        ("locked_out", str(world.alice.pk)),
    ]
    assert failures[-1].metadata == {"throttle": "login-pair"}
    assert all(e.workspace_id is None and e.outcome == "failure" for e in failures)
    [lockout] = events("authn_lockout")
    assert (lockout.reason, lockout.target_id, lockout.outcome) == (
        "login-pair",
        str(world.alice.pk),
        "denied",
    )
    [success] = events("authn_login_success")
    assert (success.actor_id, success.target_id) == (str(world.bob.pk), str(world.bob.pk))
    assert success.metadata == {"mfa": "none"}
    assert success.ip == "127.0.0.1"
    assert_no_personal_data(world)


def test_logout_ends_the_session_and_is_audited(client, world: World):
    login(client, world.alice.email)
    key = client.session.session_key
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert not signed_in(client)
    assert not UserSession.objects.filter(session_key=key).exists()
    [logout] = events("authn_logout")
    assert (logout.reason, logout.actor_id) == ("user", str(world.alice.pk))


def test_logout_by_get_is_refused(client, world: World):
    login(client, world.alice.email)
    assert client.get("/accounts/logout/").status_code == 405
    assert signed_in(client)
