"""TOTP enrolment, the second sign-in step, recovery codes, disabling."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from conftest import PASSWORD, World
from heroshhi.accounts import totp
from heroshhi.accounts.models import RecoveryCode, TotpDevice
from heroshhi.accounts.selectors import totp_secret
from heroshhi.accounts.tests.conftest import (
    FrozenClock,
    assert_no_personal_data,
    current_code,
    device_of,
    enable_two_factor,
    events,
    login,
)

pytestmark = pytest.mark.django_db

VERIFY = "/accounts/login/verify/"
SETUP_KEY = re.compile(r'<p class="secret" aria-label="Setup key"><code>([A-Z2-7 ]+)</code>')
CODE_ITEM = re.compile(r"<li><code>([0-9A-Z-]{19})</code></li>")


def signed_in(client: Client) -> bool:
    return client.get("/account/security/").status_code == 200


def password_step(client: Client, email: str, **extra: Any) -> None:
    response = login(client, email, **extra)
    assert response.status_code == 302
    assert response["Location"] == VERIFY


def verify(client: Client, code: str):
    return client.post(VERIFY, {"code": code})


# --- Enrolment -------------------------------------------------------------------------------


def test_a_user_enrols_with_a_code_and_gets_ten_recovery_codes(world: World, clock: FrozenClock):
    client = Client()
    login(client, world.alice.email)
    assert client.post("/account/security/two-factor/setup/").status_code == 302
    page = client.get("/account/security/two-factor/").content.decode()
    secret = SETUP_KEY.search(page).group(1).replace(" ", "")  # type: ignore[union-attr]
    assert "otpauth://totp/Heroshhi%20Pro:" in page
    assert f"secret={secret}" in page

    wrong = client.post("/account/security/two-factor/confirm/", {"code": "000000"})
    assert wrong.status_code == 400
    assert not device_of(world.alice).confirmed

    done = client.post(
        "/account/security/two-factor/confirm/", {"code": current_code(secret, clock)}
    )
    assert done.status_code == 200
    codes = CODE_ITEM.findall(done.content.decode())
    assert len(codes) == 10
    assert device_of(world.alice).confirmed
    assert RecoveryCode.objects.filter(user=world.alice).count() == 10
    [enabled] = events("mfa_enabled")
    assert enabled.target_id == str(world.alice.pk)
    assert_no_personal_data(world)


def test_the_secret_is_stored_sealed_and_bound_to_its_user(world: World, clock: FrozenClock):
    secret, codes = enable_two_factor(world.alice, clock)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_sealed FROM accounts_totpdevice")
        [(stored,)] = cursor.fetchall()
    assert stored.startswith("hu1:")
    assert secret not in stored
    stored_hashes = set(RecoveryCode.objects.values_list("code_hash", flat=True))
    assert not any(code.replace("-", "") in h for code in codes for h in stored_hashes)
    # Moved onto Bob's row, Alice's sealed secret does not open.
    TotpDevice.objects.create(user=world.bob, secret_sealed=stored, confirmed=True)
    with pytest.raises(Exception, match="authentication failed"):
        totp_secret(device=device_of(world.bob))


# --- Signing in with two-factor ----------------------------------------------------------------


def test_sign_in_asks_for_the_code_before_the_session_is_signed_in(
    world: World, clock: FrozenClock
):
    secret, _ = enable_two_factor(world.alice, clock)
    client = Client()
    password_step(client, world.alice.email)
    assert not signed_in(client)
    response = verify(client, current_code(secret, clock))
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert signed_in(client)
    [success] = events("authn_login_success")
    assert success.metadata == {"mfa": "totp"}


def test_the_session_key_changes_at_each_step(world: World, clock: FrozenClock):
    secret, _ = enable_two_factor(world.alice, clock)
    client = Client()
    client.get("/accounts/login/")
    client.session.save()
    first = client.session.session_key
    password_step(client, world.alice.email)
    second = client.session.session_key
    verify(client, current_code(secret, clock))
    assert len({first, second, client.session.session_key}) == 3


def test_a_replayed_code_is_refused(world: World, clock: FrozenClock):
    secret, _ = enable_two_factor(world.alice, clock)
    code = current_code(secret, clock)
    first = Client()
    password_step(first, world.alice.email)
    assert verify(first, code).status_code == 302
    clock.advance(5)  # same 30-second step
    second = Client()
    password_step(second, world.alice.email)
    replay = verify(second, code)
    assert replay.status_code == 200
    assert "That code is not valid" in replay.content.decode()
    assert not signed_in(second)
    assert [e.reason for e in events("authn_mfa_fail")] == ["replayed_code"]


def test_a_code_from_a_neighbouring_step_is_accepted_for_clock_drift(
    world: World, clock: FrozenClock
):
    secret, _ = enable_two_factor(world.alice, clock)
    client = Client()
    password_step(client, world.alice.email)
    clock.advance(totp.STEP_SECONDS)  # the step before now must be one never used
    previous_step = totp.time_step(clock.now) - 1
    old_code = totp.code_at(secret, previous_step)
    assert verify(client, old_code).status_code == 302


def test_a_recovery_code_works_once(world: World, clock: FrozenClock):
    _, codes = enable_two_factor(world.alice, clock)
    first = Client()
    password_step(first, world.alice.email)
    assert verify(first, codes[0].lower()).status_code == 302
    assert signed_in(first)
    second = Client()
    password_step(second, world.alice.email)
    assert verify(second, codes[0]).status_code == 200
    assert not signed_in(second)
    assert verify(second, codes[1]).status_code == 302
    assert events("authn_login_success")[0].metadata == {"mfa": "recovery_code"}


def test_five_wrong_codes_send_the_user_back_to_the_password(world: World, clock: FrozenClock):
    secret, _ = enable_two_factor(world.alice, clock)
    client = Client()
    password_step(client, world.alice.email)
    for _ in range(4):
        assert verify(client, "123456").status_code == 200
    restart = verify(client, "123456")
    assert restart.status_code == 302
    assert restart["Location"] == "/accounts/login/"
    # Even the right code no longer helps: the half-finished sign-in is gone.
    assert verify(client, current_code(secret, clock))["Location"] == "/accounts/login/"
    assert not signed_in(client)


def test_wrong_codes_across_restarts_trip_the_per_user_cool_off(world: World, clock: FrozenClock):
    secret, _ = enable_two_factor(world.alice, clock)
    client = Client()
    for _ in range(2):
        password_step(client, world.alice.email)
        for _ in range(5):
            verify(client, "123456")
    password_step(client, world.alice.email)
    refused = verify(client, current_code(secret, clock))
    assert refused["Location"] == "/accounts/login/"
    assert not signed_in(client)
    assert "mfa-user" in [e.reason for e in events("authn_lockout")]


def test_the_half_finished_sign_in_expires_after_five_minutes(world: World, clock: FrozenClock):
    secret, _ = enable_two_factor(world.alice, clock)
    client = Client()
    password_step(client, world.alice.email)
    clock.advance(5 * 60 + 1)
    response = verify(client, current_code(secret, clock))
    assert response["Location"] == "/accounts/login/"
    assert not signed_in(client)


def test_the_verify_page_without_a_password_step_sends_to_sign_in(client: Client, world: World):
    response = client.get(VERIFY)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


def test_the_next_page_survives_the_second_step(world: World, clock: FrozenClock):
    secret, _ = enable_two_factor(world.alice, clock)
    client = Client()
    client.post(
        "/accounts/login/",
        {"username": world.alice.email, "password": PASSWORD, "next": "/account/security/"},
    )
    assert verify(client, current_code(secret, clock))["Location"] == "/account/security/"


# --- Disabling and new recovery codes -----------------------------------------------------------


def reauth(client: Client, url: str, prefix: str, password: str, code: str):
    return client.post(url, {f"{prefix}-password": password, f"{prefix}-code": code})


def signed_in_with_two_factor(world: World, clock: FrozenClock) -> tuple[Client, str, list[str]]:
    secret, codes = enable_two_factor(world.alice, clock)
    client = Client()
    password_step(client, world.alice.email)
    verify(client, current_code(secret, clock))
    clock.advance(totp.STEP_SECONDS)
    return client, secret, codes


def test_disabling_needs_the_password_and_a_code(world: World, clock: FrozenClock):
    client, secret, _ = signed_in_with_two_factor(world, clock)
    url = "/account/security/two-factor/disable/"
    assert (
        reauth(client, url, "disable", "wrong password", current_code(secret, clock)).status_code
        == 400
    )
    assert reauth(client, url, "disable", PASSWORD, "000000").status_code == 400
    assert TotpDevice.objects.filter(user=world.alice).exists()
    assert reauth(client, url, "disable", PASSWORD, current_code(secret, clock)).status_code == 302
    assert not TotpDevice.objects.filter(user=world.alice).exists()
    assert not RecoveryCode.objects.filter(user=world.alice).exists()
    assert len(events("mfa_disabled")) == 1
    assert_no_personal_data(world)


def test_a_recovery_code_can_stand_in_for_the_app_when_disabling(world: World, clock: FrozenClock):
    client, _, codes = signed_in_with_two_factor(world, clock)
    url = "/account/security/two-factor/disable/"
    assert reauth(client, url, "disable", PASSWORD, codes[3]).status_code == 302
    assert not TotpDevice.objects.filter(user=world.alice).exists()


def test_new_recovery_codes_replace_the_old_ones(world: World, clock: FrozenClock):
    client, secret, old_codes = signed_in_with_two_factor(world, clock)
    url = "/account/security/two-factor/recovery-codes/"
    response = reauth(client, url, "codes", PASSWORD, current_code(secret, clock))
    assert response.status_code == 200
    new_codes = CODE_ITEM.findall(response.content.decode())
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    other = Client()
    password_step(other, world.alice.email)
    assert verify(other, old_codes[5]).status_code == 200
    assert verify(other, new_codes[5]).status_code == 302
    assert len(events("mfa_recovery_codes_regenerated")) == 1
