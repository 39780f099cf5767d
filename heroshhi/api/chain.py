"""The shorter middleware chain of the REST API.

A bearer key is the API's only credential, so sessions, CSRF, sign-in, the session
lifetime and two-factor checks, workspace resolution by URL, messages, htmx and static
files are work an API request pays for and never uses. ``ApiChainMiddleware`` sends every
``/api/`` request through ``settings.API_MIDDLEWARE`` instead: the request id, every header
of the contract, the host check, the language the client asks for, and the key check with
its rate limits (``ApiKeyMiddleware``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase

from heroshhi.api.middleware import API_PREFIX
from heroshhi.core.middleware import GetResponse, WebhookHandler


class ApiHandler(WebhookHandler):
    """Django's handler inside ``settings.API_MIDDLEWARE``, with the webhook chain's rule:
    middleware acts in ``__call__`` only."""

    setting = "API_MIDDLEWARE"


class ApiChainMiddleware:
    """Sends ``/api/`` requests through ``API_MIDDLEWARE``, the rest on through
    ``MIDDLEWARE``. Near the top of ``MIDDLEWARE``, so an API request meets none of the
    others."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.api = ApiHandler()
        self.api.load_middleware()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return self.api.get_response(request)
