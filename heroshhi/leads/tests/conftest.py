"""Lead fixtures on top of the three-tenant world (Alice owns A, Bob is sales in A,
Charlie owns B)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conftest import World
from heroshhi.accounts.services import api_key_create
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.leads import lead_create
from heroshhi.workspaces.models import Membership
from heroshhi.workspaces.permissions import Role

PHONE = "+919876543210"
EMAIL = "priya.sharma@example.in"
NAME = "Priya Sharma"


@pytest.fixture
def alice(world: World) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def bob(world: World) -> Actor:
    return Actor.user(world.bob.pk, role=Role.SALES)


@pytest.fixture
def charlie(world: World) -> Actor:
    return Actor.user(world.charlie.pk, role=Role.OWNER)


@pytest.fixture
def bob_member(world: World) -> Membership:
    with workspace_scope(world.a):
        return Membership.objects.get(user=world.bob)


@pytest.fixture
def make_lead(world: World, alice: Actor) -> Callable[..., Lead]:
    """Creates a lead in workspace A as Alice; keyword arguments override the defaults."""

    def make(**overrides: Any) -> Lead:
        fields: dict[str, Any] = {
            "name": NAME,
            "phone": None,
            "email": None,
            "source": "manual",
        }
        fields.update(overrides)
        workspace = fields.pop("workspace", world.a)
        actor = fields.pop("actor", alice)
        return lead_create(workspace=workspace, actor=actor, **fields).lead

    return make


def issue_key(workspace: Any, role: Role = Role.OWNER) -> dict[str, str]:
    plaintext = api_key_create(
        workspace=workspace,
        actor=Actor.user("setup", role=Role.OWNER),
        created_by=None,
        name="test",
        role=role,
    ).plaintext
    return {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
