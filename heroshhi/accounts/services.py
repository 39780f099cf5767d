"""Writes for user accounts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from heroshhi.accounts.models import ApiKey, User, UserSession
from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.permissions import Capability, Role, can_grant, has_capability

if TYPE_CHECKING:
    from heroshhi.workspaces.models import Workspace

API_KEY_PREFIX = "hx_"


@transaction.atomic
def user_create(*, email: str, password: str, full_name: str = "") -> User:
    user = User(email=User.objects.normalize_email(email).lower(), full_name=full_name)
    validate_password(password, user=user)
    user.set_password(password)
    user.full_clean()
    user.save()
    return user


def _api_key_hash(secret: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    key: ApiKey
    plaintext: str  # shown once, never stored


@transaction.atomic
def api_key_create(
    *, workspace: Workspace, actor: Actor, created_by: User | None, name: str, role: Role
) -> IssuedApiKey:
    if actor.role is None or not has_capability(actor.role, Capability.API_KEYS_MANAGE):
        raise PermissionDenied(Capability.API_KEYS_MANAGE.value)
    if not can_grant(actor.role, role):
        raise PermissionDenied("api_key.role_above_creator")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    plaintext = f"{API_KEY_PREFIX}{prefix}_{secret}"
    with workspace_scope(workspace):
        key = ApiKey(
            workspace=workspace,
            name=name.strip(),
            prefix=prefix,
            secret_hash=_api_key_hash(plaintext),
            role=Role(role).value,
            created_by=created_by,
        )
        key.full_clean()
        key.save()
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.API_KEY_CREATED,
            target=("api_key", str(key.pk)),
            metadata={"role": key.role},
        )
    return IssuedApiKey(key=key, plaintext=plaintext)


@transaction.atomic
def api_key_revoke(*, workspace: Workspace, actor: Actor, key: ApiKey) -> None:
    if actor.role is None or not has_capability(actor.role, Capability.API_KEYS_MANAGE):
        raise PermissionDenied(Capability.API_KEYS_MANAGE.value)
    if key.revoked_at is not None:
        return
    with workspace_scope(workspace):
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.API_KEY_REVOKED,
            target=("api_key", str(key.pk)),
        )


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    """The active key matching ``plaintext``, or None. The reviewed unscoped lookup: the key
    itself is what tells us the workspace."""
    if not plaintext.startswith(API_KEY_PREFIX):
        return None
    prefix = plaintext[len(API_KEY_PREFIX) :].split("_", 1)[0]
    key = (
        ApiKey.objects.unscoped()
        .select_related("workspace")
        .filter(prefix=prefix, revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, _api_key_hash(plaintext)):
        return None
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record use at most once a minute, so busy keys do not write on every request."""
    now = timezone.now()
    if key.last_used_at and now - key.last_used_at < timedelta(minutes=1):
        return
    ApiKey.objects.unscoped().filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


def user_session_register(*, user: User, session_key: str, ip: str | None, user_agent: str) -> None:
    """Remember a freshly signed-in session so it can be ended from elsewhere."""
    UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={"user": user, "ip": ip, "user_agent": user_agent[:256]},
    )


@transaction.atomic
def user_sessions_end(*, user: User, keep_session_key: str | None = None) -> int:
    """End every session of ``user`` (except ``keep_session_key``); returns how many ended."""
    sessions = UserSession.objects.filter(user=user)
    if keep_session_key:
        sessions = sessions.exclude(session_key=keep_session_key)
    keys = list(sessions.values_list("session_key", flat=True))
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in keys:
        store(session_key=key).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)
