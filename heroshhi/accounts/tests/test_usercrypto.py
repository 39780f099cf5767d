"""Sealing of user secrets under keys derived from the master keys, and their rotation."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from heroshhi.accounts import usercrypto
from heroshhi.accounts.models import User
from heroshhi.accounts.selectors import totp_secret, totp_secret_context
from heroshhi.accounts.services import mfa_verify, totp_secrets_reseal
from heroshhi.accounts.tests.conftest import FrozenClock, current_code, device_of, enable_two_factor
from heroshhi.core.crypto import reset_key_caches
from heroshhi.core.crypto.errors import DecryptionError

CONTEXT = usercrypto.SecretContext(table="t", column="c", row_id="user-1")


def entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


@pytest.fixture
def master_keys(settings) -> Iterator[tuple[str, str]]:
    old, new = entry("mk-old"), entry("mk-new")
    settings.MASTER_KEYS = old
    reset_key_caches()
    yield old, new
    reset_key_caches()


def test_a_sealed_value_opens_in_its_own_place_only(master_keys):
    token = usercrypto.seal(b"JBSWY3DPEHPK3PXP", context=CONTEXT)
    assert token.startswith("hu1:")
    assert b"JBSWY3DPEHPK3PXP" not in base64.urlsafe_b64decode(token[4:] + "==")
    assert usercrypto.open_sealed(token, context=CONTEXT) == b"JBSWY3DPEHPK3PXP"
    for moved in (
        usercrypto.SecretContext(table="t", column="c", row_id="user-2"),
        usercrypto.SecretContext(table="t", column="other", row_id="user-1"),
    ):
        with pytest.raises(DecryptionError, match="authentication failed"):
            usercrypto.open_sealed(token, context=moved)


def test_a_tampered_value_does_not_open(master_keys):
    token = usercrypto.seal(b"secret", context=CONTEXT)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(DecryptionError):
        usercrypto.open_sealed(flipped, context=CONTEXT)


def test_the_error_names_the_missing_master_key_but_never_the_value(master_keys, settings):
    _, new = master_keys
    token = usercrypto.seal(b"super-secret-seed", context=CONTEXT)
    settings.MASTER_KEYS = new
    with pytest.raises(DecryptionError) as error:
        usercrypto.open_sealed(token, context=CONTEXT)
    assert "mk-old" in str(error.value)
    assert "super-secret-seed" not in str(error.value)


@pytest.mark.django_db
def test_reseal_moves_every_secret_to_the_new_primary(master_keys, settings, clock: FrozenClock):
    old, new = master_keys
    user = User.objects.create_user("asha@shop.example", "correct horse battery 42")
    secret, _ = enable_two_factor(user, clock)
    settings.MASTER_KEYS = f"{new},{old}"
    assert totp_secrets_reseal() == 1
    assert totp_secrets_reseal() == 0  # idempotent
    settings.MASTER_KEYS = new  # the old key is gone
    assert totp_secret(device=device_of(user)) == secret


@pytest.mark.django_db
def test_using_a_code_reseals_a_secret_under_an_old_key(master_keys, settings, clock):
    old, new = master_keys
    user = User.objects.create_user("asha@shop.example", "correct horse battery 42")
    secret, _ = enable_two_factor(user, clock)
    settings.MASTER_KEYS = f"{new},{old}"
    assert mfa_verify(user=user, code=current_code(secret, clock)).method == "totp"
    sealed = device_of(user).secret_sealed
    assert usercrypto.sealed_key_id(sealed, context=totp_secret_context(user.pk)) == "mk-new"


@pytest.mark.django_db
def test_the_reseal_command_reports_what_it_did(master_keys, settings, clock, capsys):
    old, new = master_keys
    user = User.objects.create_user("asha@shop.example", "correct horse battery 42")
    enable_two_factor(user, clock)
    settings.MASTER_KEYS = f"{new},{old}"
    call_command("reseal_user_secrets")
    assert "1 user secrets re-sealed" in capsys.readouterr().out
