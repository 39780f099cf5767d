"""The demo workspace that `make run` seeds on first start."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.services import workspace_create

DEMO_SLUG = "demo"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str


def _password_file() -> Path:
    return Path(settings.VAR_DIR) / "keys" / "demo-password"


def demo_login() -> DemoLogin | None:
    path = _password_file()
    if not path.exists():
        return None
    return DemoLogin(email=settings.DEMO_OWNER_EMAIL, password=path.read_text().strip())


@transaction.atomic
def demo_seed() -> DemoLogin:
    """Create the demo workspace and its owner once; later runs return the same login."""
    existing = demo_login()
    if existing and Workspace.objects.filter(slug=DEMO_SLUG).exists():
        return existing
    password = secrets.token_urlsafe(15)
    owner = user_create(email=settings.DEMO_OWNER_EMAIL, password=password, full_name="Demo Owner")
    workspace_create(actor=Actor.system(), name="Demo Traders", slug=DEMO_SLUG, owner=owner)
    path = _password_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return DemoLogin(email=settings.DEMO_OWNER_EMAIL, password=password)
