"""Password change and reset."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from conftest import PASSWORD, World
from heroshhi.accounts.models import TotpDevice, UserSession
from heroshhi.accounts.tests.conftest import (
    FrozenClock,
    assert_no_personal_data,
    current_code,
    enable_two_factor,
    events,
    login,
)

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 77"
LINK = re.compile(r"https?://testserver(/accounts/password/reset/[^/\s]+/[^/\s]+/)")


NONCE = re.compile(r' nonce="[^"]+"')


def page_without_nonce(client: Client, url: str) -> str:
    """The page as text, minus the CSP nonce that differs on every response."""
    return NONCE.sub("", client.get(url).content.decode())


def signed_in_client(email: str, password: str = PASSWORD) -> Client:
    client = Client()
    assert login(client, email, password).status_code == 302
    return client


def is_signed_in(client: Client) -> bool:
    return client.get("/account/security/").status_code == 200


def change(client: Client, old: str, new: str = NEW_PASSWORD):
    return client.post(
        "/account/security/password/",
        {"old_password": old, "new_password1": new, "new_password2": new},
    )


def request_reset(client: Client, email: str, capture) -> None:
    with capture(execute=True):
        response = client.post("/accounts/password/reset/", {"email": email})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/sent/"


def reset_path_from_mail() -> str:
    match = LINK.search(str(mail.outbox[-1].body))
    assert match, "no reset link in the e-mail"
    return match.group(1)


def follow_reset_link(client: Client, new: str = NEW_PASSWORD):
    landing = client.get(reset_path_from_mail())
    assert landing.status_code == 302  # the token leaves the URL for the session
    form_url = landing["Location"]
    assert form_url.endswith("/set-password/")
    return client.post(form_url, {"new_password1": new, "new_password2": new})


# --- Change ------------------------------------------------------------------------------


def test_changing_the_password_needs_the_current_one(world: World):
    client = signed_in_client(world.alice.email)
    response = change(client, "not my password")
    assert response.status_code == 400
    assert "That is not your current password." in response.content.decode()
    world.alice.refresh_from_db()
    assert world.alice.check_password(PASSWORD)


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(world: World):
    here = signed_in_client(world.alice.email)
    elsewhere = signed_in_client(world.alice.email)
    bob = signed_in_client(world.bob.email)
    old_key = here.session.session_key
    response = change(here, PASSWORD)
    assert response.status_code == 302
    assert is_signed_in(here)
    assert here.session.session_key != old_key
    assert UserSession.objects.filter(session_key=here.session.session_key).exists()
    assert not is_signed_in(elsewhere)
    assert is_signed_in(bob)
    world.alice.refresh_from_db()
    assert world.alice.check_password(NEW_PASSWORD)
    [changed] = events("authn_password_change")
    assert changed.metadata == {"sessions_ended": 1}
    assert_no_personal_data(world)


def test_a_weak_new_password_is_refused(world: World):
    client = signed_in_client(world.alice.email)
    response = change(client, PASSWORD, new="password123")
    assert response.status_code == 400
    world.alice.refresh_from_db()
    assert world.alice.check_password(PASSWORD)


def test_guessing_the_current_password_is_throttled(world: World, clock: FrozenClock):
    client = signed_in_client(world.alice.email)
    for _ in range(5):
        change(client, "guess guess guess")
    refused = change(client, PASSWORD)
    assert refused.status_code == 400
    assert "Too many attempts" in refused.content.decode()
    assert [e.reason for e in events("authn_lockout")] == ["reauth-user"]


# --- Reset -------------------------------------------------------------------------------


def test_the_reset_email_flow_sets_a_new_password(
    client: Client, world: World, django_capture_on_commit_callbacks
):
    request_reset(client, "Alice@A.example", django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [world.alice.email]
    response = follow_reset_link(client)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password/reset/complete/"
    assert login(Client(), world.alice.email, NEW_PASSWORD).status_code == 302
    assert login(Client(), world.alice.email, PASSWORD).status_code == 200
    # The link works once.
    assert "no longer works" in client.get(reset_path_from_mail()).content.decode()


def test_the_reset_answer_is_the_same_for_unknown_addresses(
    client: Client, world: World, django_capture_on_commit_callbacks
):
    request_reset(client, "nobody@nowhere.example", django_capture_on_commit_callbacks)
    assert mail.outbox == []
    unknown = page_without_nonce(client, "/accounts/password/reset/sent/")
    request_reset(client, world.alice.email, django_capture_on_commit_callbacks)
    assert page_without_nonce(client, "/accounts/password/reset/sent/") == unknown
    assert len(mail.outbox) == 1


def test_reset_requests_are_limited_per_account(
    client: Client, world: World, clock: FrozenClock, django_capture_on_commit_callbacks
):
    for n in range(4):
        other_ip = Client(REMOTE_ADDR=f"203.0.113.{n + 1}")
        request_reset(other_ip, world.alice.email, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 3
    assert [e.reason for e in events("authn_password_reset")][-1] == "rate_limited"


def test_reset_requests_are_limited_per_ip(
    client: Client, world: World, clock: FrozenClock, django_capture_on_commit_callbacks
):
    for n in range(20):
        request_reset(client, f"someone{n}@spray.example", django_capture_on_commit_callbacks)
    request_reset(client, world.alice.email, django_capture_on_commit_callbacks)
    assert mail.outbox == []
    clock.advance(2 * 3600)
    request_reset(client, world.alice.email, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1


def test_a_reset_ends_every_session_of_the_user(
    client: Client, world: World, django_capture_on_commit_callbacks
):
    old_session = signed_in_client(world.alice.email)
    bob = signed_in_client(world.bob.email)
    request_reset(client, world.alice.email, django_capture_on_commit_callbacks)
    follow_reset_link(client)
    assert not is_signed_in(old_session)
    assert is_signed_in(bob)
    assert not UserSession.objects.filter(user=world.alice).exists()


def test_a_reset_does_not_bypass_or_disable_two_factor(
    client: Client, world: World, clock: FrozenClock, django_capture_on_commit_callbacks
):
    secret, _ = enable_two_factor(world.alice, clock)
    request_reset(client, world.alice.email, django_capture_on_commit_callbacks)
    follow_reset_link(client)
    assert TotpDevice.objects.filter(user=world.alice, confirmed=True).exists()

    browser = Client()
    response = login(browser, world.alice.email, NEW_PASSWORD)
    assert response["Location"] == "/accounts/login/verify/"
    assert browser.get("/account/security/").status_code == 302  # not signed in yet
    verified = browser.post("/accounts/login/verify/", {"code": current_code(secret, clock)})
    assert verified.status_code == 302
    assert browser.get("/account/security/").status_code == 200


def test_a_reset_lifts_the_account_cap(
    client: Client, world: World, clock: FrozenClock, django_capture_on_commit_callbacks
):
    for n in range(100):
        login(Client(), world.alice.email, "wrong wrong wrong", REMOTE_ADDR=f"198.51.100.{n + 1}")
    assert login(Client(), world.alice.email, PASSWORD).status_code == 200
    request_reset(client, world.alice.email, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        follow_reset_link(client)
    assert login(Client(), world.alice.email, NEW_PASSWORD).status_code == 302


def test_reset_events_are_audited_without_email(
    client: Client, world: World, django_capture_on_commit_callbacks
):
    request_reset(client, "nobody@nowhere.example", django_capture_on_commit_callbacks)
    request_reset(client, world.alice.email, django_capture_on_commit_callbacks)
    follow_reset_link(client)
    resets = [(e.reason, e.outcome, e.target_id) for e in events("authn_password_reset")]
    assert resets == [
        ("unknown_account", "failure", ""),
        ("requested", "success", str(world.alice.pk)),
        ("completed", "success", str(world.alice.pk)),
    ]
    assert_no_personal_data(world)
