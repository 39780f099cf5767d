"""Session lifetime rules (ASVS V7.3.1, V7.3.2), enforced on the server.

* Idle timeout: ``HEROSHHI_SESSION_IDLE_SECONDS`` (default 30 minutes) without a request.
* Absolute lifetime: ``SESSION_COOKIE_AGE`` (12 hours by default) after sign-in, however
  busy the session is. Counted from the sign-in time kept inside the session, so a cookie
  replayed after its expiry date, or a session store entry kept alive by activity, still
  ends on time.

Activity is stamped at most once a minute (``TOUCH_EVERY_SECONDS``), which keeps writes
down and makes the idle timeout accurate to the minute.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

AUTH_STARTED = "hx_auth_started"
LAST_ACTIVITY = "hx_last_activity"
# How the second factor was passed at sign-in ("none", "totp", "recovery_code").
MFA_METHOD = "hx_mfa"
IDLE_TIMEOUT = "idle_timeout"
ABSOLUTE_TIMEOUT = "absolute_timeout"
DEFAULT_IDLE_SECONDS = 30 * 60
TOUCH_EVERY_SECONDS = 60


def idle_seconds() -> int:
    return int(getattr(settings, "HEROSHHI_SESSION_IDLE_SECONDS", DEFAULT_IDLE_SECONDS))


def absolute_seconds() -> int:
    return int(settings.SESSION_COOKIE_AGE)


def stamp_sign_in(session: SessionBase, *, now: float, mfa: str) -> None:
    session[AUTH_STARTED] = now
    session[LAST_ACTIVITY] = now
    session[MFA_METHOD] = mfa


def is_stamped(session: SessionBase) -> bool:
    return AUTH_STARTED in session and LAST_ACTIVITY in session


def expiry_reason(session: SessionBase, *, now: float) -> str | None:
    """Why the signed-in session must end now, or None while it is still good."""
    started = float(session.get(AUTH_STARTED, now))
    last_activity = float(session.get(LAST_ACTIVITY, now))
    if now - started > absolute_seconds():
        return ABSOLUTE_TIMEOUT
    if now - last_activity > idle_seconds():
        return IDLE_TIMEOUT
    return None


def needs_touch(session: SessionBase, *, now: float) -> bool:
    return now - float(session.get(LAST_ACTIVITY, 0)) >= TOUCH_EVERY_SECONDS
