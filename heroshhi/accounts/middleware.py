"""Session lifetime and two-factor enforcement for signed-in browser sessions.

``SessionLifetimeMiddleware`` goes right after Django's ``AuthenticationMiddleware``: it ends
sessions past their idle or absolute limit before anything else sees the user.
``TwoFactorEnforcementMiddleware`` goes right after ``WorkspaceMiddleware``, which sets
``request.workspace``. API requests authenticate by key and are left alone by both.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from heroshhi.accounts import authflow, clock, sessions
from heroshhi.accounts.enforcement import two_factor_policy_applies, two_factor_required_for
from heroshhi.accounts.models import User
from heroshhi.accounts.services import user_session_touch
from heroshhi.core.request_context import USER_AGENT_MAX, client_ip

GetResponse = Callable[[HttpRequest], HttpResponse]
API_PREFIX = "/api/"


class SessionLifetimeMiddleware:
    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if isinstance(user, User) and not request.path_info.startswith(API_PREFIX):
            self._check(request, user)
        return self.get_response(request)

    def _check(self, request: HttpRequest, user: User) -> None:
        session = request.session
        now = clock.now()
        if not sessions.is_stamped(session):
            # Signed in some other way than the sign-in page (e.g. a test client or a
            # future flow): the clocks start now and the session is registered.
            sessions.stamp_sign_in(session, now=now, mfa="unknown")
            self._touch(request, user)
            return
        reason = sessions.expiry_reason(session, now=now)
        if reason is not None:
            authflow.sign_out(request, reason=reason)
            return
        if sessions.needs_touch(session, now=now):
            session[sessions.LAST_ACTIVITY] = now
            self._touch(request, user)

    @staticmethod
    def _touch(request: HttpRequest, user: User) -> None:
        if request.session.session_key is None:
            request.session.save()
        user_session_touch(
            user=user,
            session_key=str(request.session.session_key),
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
        )


def _enrolment_redirect(request: HttpRequest) -> HttpResponse:
    target = f"{reverse('security:two_factor')}?{urlencode({'next': request.get_full_path()})}"
    if request.headers.get("HX-Request") == "true":
        # htmx would swap the enrolment page into a fragment; make it navigate instead.
        return HttpResponseClientRedirect(target)
    return HttpResponseRedirect(target)


class TwoFactorEnforcementMiddleware:
    """Sends members of a workspace that requires two-factor, and every platform admin,
    to the enrolment page until they have it."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if isinstance(user, User) and self._must_enrol(request, user):
            return _enrolment_redirect(request)
        return self.get_response(request)

    def _must_enrol(self, request: HttpRequest, user: User) -> bool:
        # Cheapest test first: most requests meet no rule and cost no query.
        workspace = getattr(request, "workspace", None)
        if not two_factor_policy_applies(user=user, workspace=workspace):
            return False
        if self._exempt(request.path_info):
            return False
        return two_factor_required_for(user=user, workspace=workspace)

    @staticmethod
    def _exempt(path: str) -> bool:
        """Pages a user without two-factor still needs: setting it up, signing out, the
        rest of the own-account pages, static files, health checks and the key-based API."""
        allowed = (
            reverse("security:index"),
            reverse("accounts:logout"),
            reverse("accounts:login"),
            settings.STATIC_URL or "/static/",
            API_PREFIX,
            "/healthz",
            "/readyz",
        )
        return path.startswith(allowed)
