"""Master key configuration: the key file, production refusal and malformed values."""

from __future__ import annotations

import base64
import secrets
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from heroshhi.core.crypto.master import load_master_keyring, parse_master_keys
from heroshhi.core.tests.crypto.conftest import master_entry

KEY_TEXT = base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def key_file(settings, tmp_path):
    settings.MASTER_KEYS = None
    settings.MASTER_KEY_FILE = tmp_path / "keys" / "master.keys"
    return settings.MASTER_KEY_FILE


def test_the_development_key_file_is_created_private_and_reused(settings, key_file):
    settings.MASTER_KEY_GENERATE = True
    first = load_master_keyring()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert len(first.keys[first.primary_id]) == 32
    assert load_master_keyring() == first


def test_production_refuses_to_generate_a_master_key(settings, key_file):
    settings.MASTER_KEY_GENERATE = False
    with pytest.raises(ImproperlyConfigured, match="HEROSHHI_MASTER_KEYS"):
        load_master_keyring()
    assert not key_file.exists()


def test_an_existing_key_file_is_read_in_the_same_format(settings, key_file):
    settings.MASTER_KEY_GENERATE = False
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(f"{master_entry('new')}\n{master_entry('old')}\n")
    key_file.chmod(0o600)
    keyring = load_master_keyring()
    assert keyring.primary_id == "new"
    assert set(keyring.keys) == {"new", "old"}


def test_a_key_file_readable_by_others_is_refused(settings, key_file):
    key_file.parent.mkdir(mode=0o700)
    key_file.write_text(master_entry("k1"))
    key_file.chmod(0o644)
    with pytest.raises(ImproperlyConfigured, match="must not be readable"):
        load_master_keyring()


def test_the_environment_value_wins_and_its_first_entry_is_primary(settings, key_file):
    settings.MASTER_KEYS = f"{master_entry('b')},{master_entry('a')}"
    keyring = load_master_keyring()
    assert keyring.primary_id == "b"
    assert not key_file.exists()


def test_urlsafe_and_unpadded_base64_are_accepted():
    key = secrets.token_bytes(32)
    text = base64.urlsafe_b64encode(key).decode().rstrip("=")
    assert parse_master_keys(f"k1:{text}").keys["k1"] == key


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (f"{KEY_TEXT}", "must look like"),
        (f"bad id!:{KEY_TEXT}", "must look like"),
        ("k1:%%%not-base64%%%", "not valid base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"k1:{base64.b64encode(b'k' * 33).decode()}", "32 bytes"),
        (f"k1:{KEY_TEXT},k1:{KEY_TEXT}", "repeats"),
        (" , ", "no key entries"),
    ],
)
def test_a_malformed_value_names_the_variable_and_never_echoes_the_key(
    settings, key_file, value, problem
):
    settings.MASTER_KEYS = value
    with pytest.raises(ImproperlyConfigured) as caught:
        load_master_keyring()
    message = str(caught.value)
    assert "HEROSHHI_MASTER_KEYS" in message
    assert problem in message
    assert KEY_TEXT not in message
    assert "not-base64" not in message
