"""Fixtures of the platform console tests: a staff operator beside the three-tenant world."""

from __future__ import annotations

import pytest
from django.test import Client

from conftest import PASSWORD
from heroshhi.accounts.models import TotpDevice, User
from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor, ActorType

STAFF_EMAIL = "ops@platform.example"


@pytest.fixture
def staff(db: None) -> User:
    user = user_create(email=STAFF_EMAIL, password=PASSWORD, full_name="Platform Operator")
    # Made staff the way the createsuperuser path does; there is no service for it yet.
    User.objects.filter(pk=user.pk).update(is_staff=True)
    # Platform admins must use two-factor sign-in; give this one a confirmed authenticator
    # (as enrolment leaves it) so the console, not the enrolment page, answers.
    TotpDevice.objects.create(user=user, secret_sealed="unused-in-these-tests", confirmed=True)
    user.refresh_from_db()
    return user


@pytest.fixture
def staff_client(client: Client, staff: User) -> Client:
    assert client.login(email=staff.email, password=PASSWORD)
    return client


@pytest.fixture
def operator(staff: User) -> Actor:
    return Actor(type=ActorType.PLATFORM_ADMIN, id=str(staff.pk))
