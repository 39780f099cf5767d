"""Fixtures for the sign-in tests: the accounts middleware and URLs switched on, an empty
cache per test, a frozen clock, and helpers for two-factor and the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from pytest_django.fixtures import Settings

from conftest import PASSWORD, World
from heroshhi.accounts import totp
from heroshhi.accounts.models import TotpDevice, User
from heroshhi.accounts.selectors import totp_secret
from heroshhi.accounts.services import totp_enrolment_confirm, totp_enrolment_start
from heroshhi.audit.models import AuditEvent
from heroshhi.core import ratelimit

LIFETIME = "heroshhi.accounts.middleware.SessionLifetimeMiddleware"
ENFORCEMENT = "heroshhi.accounts.middleware.TwoFactorEnforcementMiddleware"
# 100 s into a 15-minute window and 10 s into a 30-second TOTP step.
START = 900 * 1_988_889 + 100.0


def _with_accounts_middleware(middleware: list[str]) -> list[str]:
    stack = list(middleware)
    if LIFETIME not in stack:
        stack.insert(
            stack.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1, LIFETIME
        )
    if ENFORCEMENT not in stack:
        stack.insert(
            stack.index("heroshhi.workspaces.middleware.WorkspaceMiddleware") + 1, ENFORCEMENT
        )
    return stack


@pytest.fixture(autouse=True)
def accounts_stack(settings: Settings) -> None:
    """What the lead adds to settings and config/urls.py; a no-op once they are there."""
    settings.MIDDLEWARE = _with_accounts_middleware(settings.MIDDLEWARE)
    settings.ROOT_URLCONF = "heroshhi.accounts.tests.urls"


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    # Lockout counters live in the cache, which outlives a test's database transaction.
    cache.clear()
    yield
    cache.clear()


@dataclass
class FrozenClock:
    now: float

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(START)
    monkeypatch.setattr(ratelimit, "_now", lambda: frozen.now)
    return frozen


def login(client: Client, email: str, password: str = PASSWORD, **extra: Any):
    return client.post("/accounts/login/", {"username": email, "password": password}, **extra)


def enable_two_factor(user: User, clock: FrozenClock) -> tuple[str, list[str]]:
    """Enrol ``user`` (secret, recovery codes); the confirming code's step is then used up,
    so the clock moves one step on."""
    device = totp_enrolment_start(user=user)
    secret = totp_secret(device=device)
    codes = totp_enrolment_confirm(user=user, code=totp.code_at(secret, totp.time_step(clock.now)))
    clock.advance(totp.STEP_SECONDS)
    return secret, codes


def current_code(secret: str, clock: FrozenClock) -> str:
    return totp.code_at(secret, totp.time_step(clock.now))


def events(action: str | None = None) -> list[AuditEvent]:
    rows = AuditEvent.objects.order_by("chain", "seq")
    return list(rows.filter(action=action) if action else rows)


def assert_no_personal_data(world: World) -> None:
    """No audit event mentions an e-mail address of the world's people, or a password."""
    addresses = [world.alice.email, world.bob.email, world.charlie.email]
    for event in AuditEvent.objects.all():
        text = json.dumps(
            [event.metadata, event.target_id, event.reason, event.actor_id], default=str
        )
        for value in [*addresses, PASSWORD, "@"]:
            assert value not in text, f"{event.action} carries personal data"


def device_of(user: User) -> TotpDevice:
    return TotpDevice.objects.get(user=user)
