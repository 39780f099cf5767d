"""Sign-in flows write no e-mail addresses, passwords or codes to the application log (P22)."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from conftest import PASSWORD, World
from heroshhi.accounts.tests.conftest import FrozenClock, current_code, enable_two_factor, login

pytestmark = pytest.mark.django_db


def test_sign_in_reset_and_two_factor_log_no_secrets(
    world: World, clock: FrozenClock, caplog, django_capture_on_commit_callbacks
):
    secret, recovery = enable_two_factor(world.alice, clock)
    caplog.set_level(logging.DEBUG)
    client = Client()
    for _ in range(6):
        login(client, world.bob.email, "wrong password here")
    login(client, "nobody@nowhere.example", "wrong password here")
    code = current_code(secret, clock)
    login(client, world.alice.email)
    client.post("/accounts/login/verify/", {"code": "999999"})
    client.post("/accounts/login/verify/", {"code": code})
    with django_capture_on_commit_callbacks(execute=True):
        Client().post("/accounts/password/reset/", {"email": world.charlie.email})

    assert caplog.records, "nothing was logged: the test would prove nothing"
    text = "\n".join(
        f"{record.getMessage()} {record.__dict__}" for record in caplog.records
    ).lower()
    secrets = [
        world.alice.email,
        world.bob.email,
        world.charlie.email,
        "nobody@nowhere.example",
        PASSWORD,
        "wrong password here",
        secret.lower(),
        code,
        recovery[0].lower(),
    ]
    assert [value for value in secrets if value.lower() in text] == []
