"""Plain helpers shared by the team tests (fixtures live in conftest.py)."""

from __future__ import annotations

import re

from django.core import mail
from django.test import Client

from heroshhi.accounts.models import User
from heroshhi.accounts.services import api_key_create, user_session_register
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

TOKEN_IN_LINK = re.compile(r"/invitations/([A-Za-z0-9_-]+)/")


def sign_in(user: User) -> Client:
    """A browser signed in as ``user``, its session registered the way sign-in does it, so
    that "end all sessions" reaches it."""
    client = Client()
    client.force_login(user)
    user_session_register(
        user=user, session_key=client.session.session_key or "", ip=None, user_agent="test"
    )
    return client


def membership_of(user: User, workspace: Workspace) -> Membership | None:
    with workspace_scope(workspace):
        return Membership.objects.filter(user=user).first()


def token_from_last_mail() -> str:
    match = TOKEN_IN_LINK.search(str(mail.outbox[-1].body))
    assert match, "no invitation link in the e-mail"
    return match.group(1)


def api_key(workspace: Workspace, role: Role) -> dict[str, str]:
    """Request headers carrying a fresh API key of ``role`` in ``workspace``."""
    issued = api_key_create(
        workspace=workspace,
        actor=Actor.user("setup", role=Role.OWNER),
        created_by=None,
        name=f"test {role}",
        role=role,
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {issued.plaintext}"}
