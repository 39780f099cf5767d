"""Bootstrap a workspace and its owner for self-hosting and automation; prints one JSON object.

python manage.py create_workspace --name NAME --owner EMAIL [--password-env VAR] [--api-key]
"""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.text import slugify

from heroshhi.accounts.models import User
from heroshhi.accounts.services import api_key_create, user_create
from heroshhi.core.actors import Actor
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import workspace_create


def _free_slug(name: str) -> str:
    base = slugify(name)[:50] or "workspace"
    slug, suffix = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        suffix += 1
        slug = f"{base}-{suffix}"
    return slug


class Command(BaseCommand):
    help = "Create a workspace and its owner; prints JSON with ids (and an API key if asked)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="the owner's e-mail address")
        parser.add_argument(
            "--password-env",
            help="name of an environment variable holding the owner's password "
            "(never a command-line argument, which other users can see)",
        )
        parser.add_argument("--api-key", action="store_true", help="also issue an owner API key")

    def handle(
        self,
        *args: Any,
        name: str,
        owner: str,
        password_env: str | None,
        api_key: bool,
        **options: Any,
    ) -> None:
        password = None
        if password_env:
            password = os.environ.get(password_env)
            if not password:
                raise CommandError(f"Environment variable {password_env} is empty or unset.")
        actor = Actor.system()
        try:
            with transaction.atomic():
                user = User.objects.filter(email__iexact=owner.strip()).first()
                if user is None:
                    if password is None:
                        raise CommandError("A new owner needs --password-env.")
                    user = user_create(email=owner, password=password)
                workspace = workspace_create(
                    actor=actor, name=name, slug=_free_slug(name), owner=user
                )
                issued = None
                if api_key:
                    issued = api_key_create(
                        workspace=workspace,
                        actor=Actor.user(user.pk, role=Role.OWNER),
                        created_by=user,
                        name="bootstrap",
                        role=Role.OWNER,
                    )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        result: dict[str, object] = {
            "workspace": {"id": str(workspace.pk), "slug": workspace.slug},
            "owner": {"email": user.email},
        }
        if issued is not None:
            result["api_key"] = issued.plaintext
        self.stdout.write(json.dumps(result))
