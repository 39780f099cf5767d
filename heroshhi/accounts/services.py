"""Writes for user accounts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from heroshhi.accounts import clock, lockout, totp, usercrypto
from heroshhi.accounts.errors import TwoFactorError
from heroshhi.accounts.models import ApiKey, RecoveryCode, TotpDevice, User, UserSession
from heroshhi.accounts.selectors import totp_secret, totp_secret_context
from heroshhi.audit.actions import AuditAction, Outcome
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


# --- Sign-in, sign-out and sessions -----------------------------------------------------
#
# Users are platform-level, so their sign-in events go to the platform audit chain
# (workspace=None). None of them carries an e-mail address: accounts are named by id.

LOGOUT_BY_USER = "user"
LOGOUT_EVERYWHERE = "everywhere"


def _user_target(user: User | None) -> tuple[str, str] | None:
    return None if user is None else ("user", str(user.pk))


def _audit_own_account(user: User, *, action: AuditAction, **details: Any) -> None:
    """An event a user caused on their own account, on the platform chain."""
    audit_record(
        workspace=None,
        actor=Actor.user(user.pk),
        action=action,
        target=_user_target(user),
        **details,
    )


@transaction.atomic
def login_success_record(
    *, user: User, session_key: str, ip: str | None, user_agent: str, mfa: str
) -> None:
    """Remember the new session and audit the sign-in (``mfa``: how the second factor was
    passed: ``none``, ``totp`` or ``recovery_code``)."""
    user_session_register(user=user, session_key=session_key, ip=ip, user_agent=user_agent)
    _audit_own_account(user, action=AuditAction.AUTHN_LOGIN_SUCCESS, metadata={"mfa": mfa})


@transaction.atomic
def login_failure_record(
    *, user: User | None, reason: str, metadata: dict[str, object] | None = None
) -> None:
    """Audit a refused sign-in. ``user`` is the account the e-mail named, when it exists."""
    audit_record(
        workspace=None,
        actor=Actor.anonymous(),
        action=AuditAction.AUTHN_LOGIN_FAIL,
        outcome=Outcome.FAILURE,
        target=_user_target(user),
        reason=reason,
        metadata=metadata,
    )


@transaction.atomic
def lockout_record(*, user: User | None, throttle: str) -> None:
    """Audit the start of a cool-off (``throttle`` names which one, see ``lockout``)."""
    audit_record(
        workspace=None,
        actor=Actor.anonymous(),
        action=AuditAction.AUTHN_LOCKOUT,
        outcome=Outcome.DENIED,
        target=_user_target(user),
        reason=throttle,
    )


@transaction.atomic
def mfa_failure_record(*, user: User, reason: str, step: str) -> None:
    """Audit a wrong second factor; ``step`` is ``login`` or ``reauth``."""
    audit_record(
        workspace=None,
        actor=Actor.anonymous() if step == "login" else Actor.user(user.pk),
        action=AuditAction.AUTHN_MFA_FAIL,
        outcome=Outcome.FAILURE,
        target=_user_target(user),
        reason=reason,
        metadata={"step": step},
    )


@transaction.atomic
def member_sign_in_unlock(*, workspace: Workspace, actor: Actor, member: User) -> None:
    """A workspace owner ends a member's sign-in lock, as a password reset would (the
    account cap and every pair lock of the member's address; an IP's ceiling stays).

    The caller has checked that ``member`` belongs to ``workspace``. The audit event names
    the member by id; the lock itself ends once the event is committed.
    """
    if actor.role is None or not has_capability(actor.role, Capability.SECURITY_SETTINGS):
        raise PermissionDenied(Capability.SECURITY_SETTINGS.value)
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.AUTHN_LOCKOUT_RELEASED,
        outcome=Outcome.SUCCESS,
        target=_user_target(member),
    )
    transaction.on_commit(partial(lockout.account_release, email=member.email))


def user_session_touch(*, user: User, session_key: str, ip: str | None, user_agent: str) -> None:
    """Refresh ``last_seen_at``; a signed-in session not yet known (one started outside the
    sign-in page) is registered here, so "log out everywhere" reaches it too."""
    updated = UserSession.objects.filter(session_key=session_key, user=user).update(
        last_seen_at=timezone.now()
    )
    if not updated:
        user_session_register(user=user, session_key=session_key, ip=ip, user_agent=user_agent)


def user_session_rekey(*, old_session_key: str, new_session_key: str) -> None:
    """Follow a session whose key was rotated (after a password change)."""
    UserSession.objects.filter(session_key=old_session_key).update(session_key=new_session_key)


@transaction.atomic
def logout_record(*, user: User, session_key: str | None, reason: str) -> None:
    """Forget one ended session and audit it (``reason``: ``user``, ``idle_timeout`` or
    ``absolute_timeout``). The caller ends the session itself (``auth.logout``)."""
    if session_key:
        UserSession.objects.filter(session_key=session_key).delete()
    by_user = reason == LOGOUT_BY_USER
    audit_record(
        workspace=None,
        actor=Actor.user(user.pk) if by_user else Actor.system(),
        action=AuditAction.AUTHN_LOGOUT,
        target=_user_target(user),
        reason=reason,
    )


@transaction.atomic
def user_logout_everywhere(*, user: User) -> int:
    """End every session of the user, the current one included."""
    ended = user_sessions_end(user=user)
    _audit_own_account(
        user,
        action=AuditAction.AUTHN_LOGOUT,
        reason=LOGOUT_EVERYWHERE,
        metadata={"sessions_ended": ended},
    )
    return ended


# --- Passwords ---------------------------------------------------------------------------


def _password_set(*, user: User, new_password: str) -> None:
    validate_password(new_password, user=user)
    user.set_password(new_password)
    user.save(update_fields=["password"])


@transaction.atomic
def password_change(*, user: User, new_password: str, keep_session_key: str | None) -> int:
    """Set a new password (the caller checked the current one) and end every other
    session; returns how many ended."""
    _password_set(user=user, new_password=new_password)
    ended = user_sessions_end(user=user, keep_session_key=keep_session_key)
    _audit_own_account(
        user, action=AuditAction.AUTHN_PASSWORD_CHANGE, metadata={"sessions_ended": ended}
    )
    return ended


def _reset_candidates(email: str) -> list[User]:
    """Active accounts with a password for this address (Django's reset rules)."""
    users = User.objects.filter(email__iexact=email.strip(), is_active=True)
    return [user for user in users if user.has_usable_password()]


@transaction.atomic
def password_reset_request(*, email: str, ip: str | None, domain: str, use_https: bool) -> None:
    """Send a reset link if the address has an account and the limits allow it.

    The caller answers the same way in every case. The e-mail is sent by a task after
    commit, so an existing address does not answer measurably slower than an unknown one.
    """
    # Imported here: the task module imports this one.
    from heroshhi.accounts.tasks import password_reset_email_send

    users = _reset_candidates(email)
    first = users[0] if users else None
    if not lockout.reset_request_allowed(email=email, ip=ip):
        _password_reset_audit(user=first, outcome=Outcome.DENIED, reason="rate_limited")
        return
    if not users:
        _password_reset_audit(user=None, outcome=Outcome.FAILURE, reason="unknown_account")
        return
    for user in users:
        _password_reset_audit(user=user, outcome=Outcome.SUCCESS, reason="requested")
        transaction.on_commit(
            partial(
                password_reset_email_send.delay,
                user_id=str(user.pk),
                domain=domain,
                use_https=use_https,
            )
        )


def _password_reset_audit(
    *, user: User | None, outcome: Outcome, reason: str, metadata: dict[str, object] | None = None
) -> None:
    audit_record(
        workspace=None,
        actor=Actor.anonymous(),
        action=AuditAction.AUTHN_PASSWORD_RESET,
        outcome=outcome,
        target=_user_target(user),
        reason=reason,
        metadata=metadata,
    )


@transaction.atomic
def password_reset_complete(*, user: User, new_password: str) -> int:
    """Set the password chosen through a reset link and end every session of the user.

    Two-factor stays exactly as it was: the next sign-in still asks for a code (ASVS
    V6.4.3). The account's failure cap is lifted, since its owner just proved control of
    the mailbox.
    """
    _password_set(user=user, new_password=new_password)
    ended = user_sessions_end(user=user)
    _password_reset_audit(
        user=user,
        outcome=Outcome.SUCCESS,
        reason="completed",
        metadata={"sessions_ended": ended},
    )
    transaction.on_commit(partial(lockout.account_release, email=user.email))
    return ended


# --- Two-factor (TOTP) ---------------------------------------------------------------------

MFA_NONE = "none"
MFA_TOTP = "totp"
MFA_RECOVERY_CODE = "recovery_code"


@dataclass(frozen=True, slots=True)
class MfaCheck:
    """The outcome of checking a second factor: ``method`` when it passed, else a
    ``reason`` code for the audit log."""

    method: str | None
    reason: str = ""


@transaction.atomic
def totp_enrolment_start(*, user: User) -> TotpDevice:
    """Give the user a fresh, unconfirmed secret (replacing an unfinished one)."""
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is not None and device.confirmed:
        raise TwoFactorError("already_enabled")
    sealed = usercrypto.seal(totp.new_secret().encode(), context=totp_secret_context(user.pk))
    if device is None:
        device = TotpDevice(user=user)
    device.secret_sealed = sealed
    device.last_used_step = 0
    device.save()
    return device


def _recovery_codes_replace(*, user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [totp.new_recovery_code() for _ in range(totp.RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(
            user=user,
            code_hash=totp.recovery_code_hash(user_id=user.pk, code=totp.clean_code(code)),
        )
        for code in codes
    )
    return codes


@transaction.atomic
def totp_enrolment_confirm(*, user: User, code: str) -> list[str]:
    """Switch two-factor on once the user shows a code from the new secret; returns the
    recovery codes, in plaintext this once."""
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None:
        raise TwoFactorError("not_started")
    step = totp.matching_step(
        totp_secret(device=device),
        totp.clean_code(code),
        now=clock.now(),
        after_step=device.last_used_step,
    )
    if step is None:
        raise TwoFactorError("bad_code")
    device.confirmed = True
    device.confirmed_at = timezone.now()
    device.last_used_step = step
    device.save(update_fields=["confirmed", "confirmed_at", "last_used_step"])
    codes = _recovery_codes_replace(user=user)
    _audit_own_account(
        user,
        action=AuditAction.MFA_ENABLED,
        metadata={"method": MFA_TOTP, "recovery_codes": len(codes)},
    )
    return codes


def _totp_check(*, user: User, code: str) -> MfaCheck:
    device = TotpDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
    if device is None:
        return MfaCheck(method=None, reason="no_device")
    secret = totp_secret(device=device)
    now = clock.now()
    step = totp.matching_step(secret, code, now=now, after_step=device.last_used_step)
    if step is None:
        # Said apart in the audit log: a replay hints at a code seen by someone else.
        replayed = totp.matching_step(secret, code, now=now, after_step=-1) is not None
        return MfaCheck(method=None, reason="replayed_code" if replayed else "bad_code")
    device.last_used_step = step
    fields = ["last_used_step"]
    context = totp_secret_context(user.pk)
    if not usercrypto.is_sealed_under_primary(device.secret_sealed, context=context):
        # Moves the secret to the current master key as a side benefit of using it.
        device.secret_sealed = usercrypto.seal(secret.encode(), context=context)
        fields.append("secret_sealed")
    device.save(update_fields=fields)
    return MfaCheck(method=MFA_TOTP)


def _recovery_code_check(*, user: User, code: str) -> MfaCheck:
    code_hash = totp.recovery_code_hash(user_id=user.pk, code=code)
    # A conditional UPDATE: of two requests racing with the same code, only one wins.
    used = RecoveryCode.objects.filter(user=user, code_hash=code_hash, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if used != 1:
        return MfaCheck(method=None, reason="bad_recovery_code")
    return MfaCheck(method=MFA_RECOVERY_CODE)


@transaction.atomic
def mfa_verify(*, user: User, code: str) -> MfaCheck:
    """Check a code from the authenticator app or a recovery code, and use it up."""
    cleaned = totp.clean_code(code)
    if totp.is_totp_code(cleaned):
        return _totp_check(user=user, code=cleaned)
    if totp.is_recovery_code(cleaned):
        return _recovery_code_check(user=user, code=cleaned)
    return MfaCheck(method=None, reason="malformed_code")


@transaction.atomic
def totp_disable(*, user: User) -> None:
    """Switch two-factor off (the caller re-authenticated the user with password and code)."""
    deleted, _ = TotpDevice.objects.filter(user=user, confirmed=True).delete()
    if not deleted:
        raise TwoFactorError("not_enabled")
    TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    _audit_own_account(user, action=AuditAction.MFA_DISABLED, metadata={"method": MFA_TOTP})


@transaction.atomic
def recovery_codes_regenerate(*, user: User) -> list[str]:
    """Replace every recovery code (the old ones stop working); returns the new ones."""
    if not TotpDevice.objects.filter(user=user, confirmed=True).exists():
        raise TwoFactorError("not_enabled")
    codes = _recovery_codes_replace(user=user)
    _audit_own_account(
        user,
        action=AuditAction.MFA_RECOVERY_CODES_REGENERATED,
        metadata={"recovery_codes": len(codes)},
    )
    return codes


@transaction.atomic
def totp_secrets_reseal(*, batch_size: int = 500) -> int:
    """Re-seal every TOTP secret under the primary master key; returns how many moved.

    Run after making a new master key primary and before removing the old one
    (``manage.py reseal_user_secrets``).
    """
    moved = 0
    devices = TotpDevice.objects.select_for_update().order_by("pk")
    for device in devices.iterator(chunk_size=batch_size):
        context = totp_secret_context(device.user_id)
        if usercrypto.is_sealed_under_primary(device.secret_sealed, context=context):
            continue
        plaintext = usercrypto.open_sealed(device.secret_sealed, context=context)
        device.secret_sealed = usercrypto.seal(plaintext, context=context)
        device.save(update_fields=["secret_sealed"])
        moved += 1
    return moved


# --- Workspace policy -----------------------------------------------------------------------

WORKSPACE_POLICY_REASON = "workspace_policy"


@transaction.atomic
def workspace_two_factor_require(*, workspace: Workspace, actor: Actor, required: bool) -> bool:
    """Require (or stop requiring) two-factor sign-in of every member; True when changed.

    Owner only. An owner must use two-factor before requiring it, so the switch never
    shuts its own author out of the workspace.
    """
    if actor.role is None or not has_capability(actor.role, Capability.SECURITY_SETTINGS):
        raise PermissionDenied(Capability.SECURITY_SETTINGS.value)
    if required and (
        actor.id is None or not TotpDevice.objects.filter(user_id=actor.id, confirmed=True).exists()
    ):
        raise TwoFactorError("enrol_first")
    locked = type(workspace).objects.select_for_update().get(pk=workspace.pk)
    if locked.require_two_factor == required:
        return False
    locked.require_two_factor = required
    locked.save(update_fields=["require_two_factor"])
    workspace.require_two_factor = required
    audit_record(
        workspace=workspace,
        actor=actor,
        action=AuditAction.MFA_ENABLED if required else AuditAction.MFA_DISABLED,
        target=("workspace", str(workspace.pk)),
        reason=WORKSPACE_POLICY_REASON,
    )
    return True
