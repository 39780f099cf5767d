"""The three-tenant world every test can use.

Alice owns workspace A, Bob is sales in A, Charlie owns workspace B and must see nothing of A.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from heroshhi.accounts.models import User
from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create, workspace_create

PASSWORD = "correct horse battery staple 42"


@dataclass
class World:
    alice: User
    bob: User
    charlie: User
    a: Workspace
    b: Workspace


@pytest.fixture
def world(db) -> World:
    alice = user_create(email="alice@a.example", password=PASSWORD, full_name="Alice")
    bob = user_create(email="bob@a.example", password=PASSWORD, full_name="Bob")
    charlie = user_create(email="charlie@b.example", password=PASSWORD, full_name="Charlie")
    a = workspace_create(actor=Actor.system(), name="Alpha Traders", slug="alpha", owner=alice)
    b = workspace_create(actor=Actor.system(), name="Beta Exports", slug="beta", owner=charlie)
    membership_create(workspace=a, user=bob, role=Role.SALES)
    return World(alice=alice, bob=bob, charlie=charlie, a=a, b=b)
