"""Small helpers shared by the platform console tests."""

from __future__ import annotations

from django.test import Client

from conftest import PASSWORD
from heroshhi.accounts.models import User
from heroshhi.accounts.services import api_key_create
from heroshhi.core.actors import Actor
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role


def issue_key(workspace: Workspace, name: str = "integration") -> str:
    return api_key_create(
        workspace=workspace,
        actor=Actor.user("setup", role=Role.OWNER),
        created_by=None,
        name=name,
        role=Role.OWNER,
    ).plaintext


def login(client: Client, user: User) -> Client:
    assert client.login(email=user.email, password=PASSWORD)
    return client
