"""Helpers for the team tests, on top of the three-tenant world of the root conftest."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache

from conftest import PASSWORD, World
from heroshhi.accounts.models import User
from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import reset_key_caches
from heroshhi.workspaces.models import Invitation, Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import invitation_create, membership_create
from heroshhi.workspaces.tests.helpers import token_from_last_mail


@pytest.fixture(autouse=True)
def _fresh_limits_and_keys() -> Iterator[None]:
    # Rate-limit counters live in the process-wide cache; key caches outlive rolled-back
    # workspaces. Neither may leak from one test into the next.
    cache.clear()
    reset_key_caches()
    yield
    cache.clear()


Invite = Callable[..., tuple[Invitation, str]]


@pytest.fixture
def invite(world: World, django_capture_on_commit_callbacks) -> Invite:
    """Send an invitation as Alice (owner of A) and return it with the token from the
    e-mail that went out."""

    def _invite(
        email: str, role: Role = Role.SALES, workspace: Workspace | None = None
    ) -> tuple[Invitation, str]:
        workspace = workspace or world.a
        inviter = world.alice if workspace == world.a else world.charlie
        with django_capture_on_commit_callbacks(execute=True):
            invitation = invitation_create(
                workspace=workspace,
                actor=Actor.user(inviter.pk, role=Role.OWNER),
                email=email,
                role=role,
                invited_by=inviter,
                base_url="http://testserver",
            )
        return invitation, token_from_last_mail()

    return _invite


@pytest.fixture
def manager(world: World) -> User:
    """Maya, a manager in workspace A."""
    maya = user_create(email="maya@a.example", password=PASSWORD, full_name="Maya")
    membership_create(workspace=world.a, user=maya, role=Role.MANAGER)
    return maya
