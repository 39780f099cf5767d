"""Sign-in steps that span requests and sessions; the views stay thin by calling these.

Password step → (two-factor step) → ``sign_in``. Between the two steps the session holds
only a "pending" record: who passed the password, when, and how many codes were wrong. It
is not a signed-in session: ``auth.login`` runs only after the second factor, so a reset
password alone never gets past an account with two-factor (ASVS V6.4.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.contrib.auth import login, logout, update_session_auth_hash
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from heroshhi.accounts import clock, lockout, sessions
from heroshhi.accounts.forms import EmailAuthenticationForm
from heroshhi.accounts.models import User
from heroshhi.accounts.selectors import user_by_email
from heroshhi.accounts.services import (
    LOGOUT_BY_USER,
    lockout_record,
    login_failure_record,
    login_success_record,
    logout_record,
    mfa_failure_record,
    mfa_verify,
    password_change,
    user_logout_everywhere,
    user_session_rekey,
)
from heroshhi.core.request_context import USER_AGENT_MAX, client_ip

PENDING = "hx_mfa_pending"
PENDING_SECONDS = 5 * 60
MAX_CODE_ATTEMPTS = 5
# Why the last session ended, shown once on the sign-in page.
ENDED_NOTICE = "hx_session_ended"


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX]


# --- Password step -------------------------------------------------------------------------


def _failure_reason(account: User | None) -> str:
    if account is None:
        return "unknown_account"
    return "bad_password" if account.is_active else "inactive"


def password_step(request: HttpRequest, form: EmailAuthenticationForm) -> User | None:
    """Validate the sign-in form under the throttles; the user when the password is right.

    Every refusal leaves the same error on the form (see ``forms.INVALID_LOGIN``); only
    the audit log says why. Once a cool-off runs (from this attempt on, when this attempt
    started it) the form also carries how long to wait, which is the same for every
    address, with an account or not.
    """
    email = str(form.data.get("username", ""))
    ip = client_ip(request)
    gate = lockout.login_gate(email=email, ip=ip)
    form.refuse = not gate.open
    if form.is_valid():
        lockout.login_success(email=email, ip=ip)
        return form.get_user()
    if not gate.open:
        form.retry_after = gate.retry_after
        login_failure_record(
            user=user_by_email(email=email),
            reason="locked_out",
            metadata={"throttle": gate.locked_by},
        )
        return None
    if not form.is_credential_failure():
        return None  # a field was missing: nothing was checked, nothing to count
    account = user_by_email(email=email)
    login_failure_record(user=account, reason=_failure_reason(account))
    tripped = lockout.login_failure(email=email, ip=ip)
    for throttle in tripped:
        lockout_record(user=account, throttle=throttle)
    if tripped:
        form.retry_after = lockout.login_gate(email=email, ip=ip).retry_after
    return None


# --- Between the steps ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pending:
    user: User
    backend: str
    next_url: str
    attempts: int


def pending_start(request: HttpRequest, *, user: User, next_url: str) -> None:
    # A new session key as soon as the password is right: a session id planted in the
    # browser beforehand learns nothing. ``login`` rotates it again after the code.
    request.session.cycle_key()
    request.session[PENDING] = {
        "uid": str(user.pk),
        "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
        # A password changed in the meantime voids the half-finished sign-in.
        "hash": user.get_session_auth_hash(),
        "at": clock.now(),
        "attempts": 0,
        "next": next_url,
    }


def pending_clear(request: HttpRequest) -> None:
    request.session.pop(PENDING, None)


def pending_get(request: HttpRequest) -> Pending | None:
    """The half-finished sign-in of this session, or None (absent, expired or void)."""
    data = request.session.get(PENDING)
    if not isinstance(data, dict):
        return None
    if clock.now() - float(data.get("at", 0)) > PENDING_SECONDS:
        pending_clear(request)
        return None
    user = User.objects.filter(pk=str(data.get("uid", "")), is_active=True).first()
    backend = str(data.get("backend", ""))
    if (
        user is None
        or backend not in settings.AUTHENTICATION_BACKENDS
        or not constant_time_compare(user.get_session_auth_hash(), str(data.get("hash", "")))
    ):
        pending_clear(request)
        return None
    return Pending(
        user=user,
        backend=backend,
        next_url=str(data.get("next", "")),
        attempts=int(data.get("attempts", 0)),
    )


def _pending_count_wrong_code(request: HttpRequest) -> int:
    data = dict(request.session[PENDING])
    data["attempts"] = int(data.get("attempts", 0)) + 1
    request.session[PENDING] = data
    return int(data["attempts"])


# --- Second-factor step --------------------------------------------------------------------


class CodeOutcome(StrEnum):
    SIGNED_IN = "signed_in"
    RETRY = "retry"
    # Too many wrong codes: the pending sign-in is dropped and the user starts over.
    RESTART = "restart"


def code_step(request: HttpRequest, *, pending: Pending, code: str) -> CodeOutcome:
    user = pending.user
    user_key = str(user.pk)
    if lockout.is_locked(lockout.MFA, user_key):
        mfa_failure_record(user=user, reason="locked_out", step="login")
        pending_clear(request)
        return CodeOutcome.RESTART
    check = mfa_verify(user=user, code=code)
    if check.method is not None:
        sign_in(request, user, backend=pending.backend, mfa=check.method)
        return CodeOutcome.SIGNED_IN
    mfa_failure_record(user=user, reason=check.reason, step="login")
    tripped = lockout.record_failure(lockout.MFA, user_key)
    if tripped:
        lockout_record(user=user, throttle=lockout.MFA.name)
    if tripped or _pending_count_wrong_code(request) >= MAX_CODE_ATTEMPTS:
        pending_clear(request)
        return CodeOutcome.RESTART
    return CodeOutcome.RETRY


# --- Signed in, signed out -----------------------------------------------------------------


def sign_in(request: HttpRequest, user: User, *, backend: str | None, mfa: str) -> None:
    """Finish signing in: new session key (``login`` rotates it), last_login, session
    stamps, the session registered for "log out everywhere", and the audit event."""
    pending_clear(request)
    login(request, user, backend=backend)
    sessions.stamp_sign_in(request.session, now=clock.now(), mfa=mfa)
    login_success_record(
        user=user,
        session_key=str(request.session.session_key),
        ip=client_ip(request),
        user_agent=_user_agent(request),
        mfa=mfa,
    )


def sign_out(request: HttpRequest, *, reason: str) -> None:
    """End this session (``reason``: ``user``, ``idle_timeout`` or ``absolute_timeout``)."""
    user = request.user
    if isinstance(user, User):
        logout_record(user=user, session_key=request.session.session_key, reason=reason)
    logout(request)
    if reason != LOGOUT_BY_USER:
        request.session[ENDED_NOTICE] = reason


def sign_out_everywhere(request: HttpRequest) -> int:
    """End every session of the signed-in user, this one included."""
    assert isinstance(request.user, User)
    ended = user_logout_everywhere(user=request.user)
    logout(request)
    return ended


def change_password(request: HttpRequest, *, new_password: str) -> int:
    """Set the new password, end the user's other sessions and keep this one signed in
    under a new key. Returns how many other sessions ended."""
    user = request.user
    assert isinstance(user, User)
    old_key = request.session.session_key
    ended = password_change(user=user, new_password=new_password, keep_session_key=old_key)
    update_session_auth_hash(request, user)  # also rotates the session key
    if old_key:
        user_session_rekey(
            old_session_key=old_key, new_session_key=str(request.session.session_key)
        )
    return ended


# --- Re-authentication on the security page ---------------------------------------------------


def check_current_password(user: User, password: str) -> str | None:
    """None when ``password`` is the user's; else ``locked`` or ``wrong``. Wrong guesses
    count towards the re-authentication cool-off, so a borrowed session cannot be used
    to guess the password."""
    key = str(user.pk)
    if lockout.is_locked(lockout.REAUTH, key):
        return "locked"
    if user.check_password(password):
        lockout.clear_failures(lockout.REAUTH, key)
        return None
    if lockout.record_failure(lockout.REAUTH, key):
        lockout_record(user=user, throttle=lockout.REAUTH.name)
    return "wrong"


def check_second_factor(user: User, code: str) -> str | None:
    """None when ``code`` is a valid code or unused recovery code (now used up); else
    ``locked`` or ``wrong``."""
    key = str(user.pk)
    if lockout.is_locked(lockout.REAUTH, key):
        return "locked"
    check = mfa_verify(user=user, code=code)
    if check.method is not None:
        return None
    mfa_failure_record(user=user, reason=check.reason, step="reauth")
    if lockout.record_failure(lockout.REAUTH, key):
        lockout_record(user=user, throttle=lockout.REAUTH.name)
    return "wrong"
