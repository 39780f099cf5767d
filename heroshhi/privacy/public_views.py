"""The public privacy-request form of a workspace: no sign-in, CSRF on, rate-limited.

Whatever is typed, the answer is the same "received, here is your reference": the page
never says whether the business holds data about the person. Limits count per client IP
and per workspace, so one sender cannot flood a business and many senders cannot flood
it together.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from heroshhi.core import ratelimit
from heroshhi.core.request_context import client_ip
from heroshhi.privacy.forms import PublicRequestForm, add_service_errors
from heroshhi.privacy.services.requests import privacy_request_submit_public
from heroshhi.workspaces.models import Workspace

PER_IP_LIMIT = ratelimit.Limit("privacy-form-ip", 5, 3600)
PER_WORKSPACE_LIMIT = ratelimit.Limit("privacy-form-workspace", 100, 3600)


def _workspace(slug: str) -> Workspace:
    """An active workspace; suspended, terminating and unknown ones are simply not found."""
    workspace = Workspace.objects.filter(slug=slug, status=Workspace.Status.ACTIVE).first()
    if workspace is None:
        raise Http404
    return workspace


def _refused(
    request: HttpRequest, workspace: Workspace, form: PublicRequestForm, retry_after: int
) -> HttpResponse:
    minutes = max(1, round(retry_after / 60))
    context = {
        "workspace": workspace,
        "form": form,
        "refusal": _(
            "Too many requests were sent from here just now. Please try again in "
            "%(minutes)s minutes."
        )
        % {"minutes": minutes},
    }
    response = render(request, "privacy/public_form.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def public_request(request: HttpRequest, slug: str) -> HttpResponse:
    workspace = _workspace(slug)
    form = PublicRequestForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        # Counted before validation, so the form cannot be used to probe many addresses.
        for limit, key in (
            (PER_IP_LIMIT, f"{workspace.pk}:{client_ip(request) or 'unknown'}"),
            (PER_WORKSPACE_LIMIT, str(workspace.pk)),
        ):
            decision = ratelimit.hit(limit, key)
            if not decision.allowed:
                # Nothing is validated, and what was typed is kept for the next try.
                kept = PublicRequestForm(
                    initial={name: request.POST.get(name, "") for name in form.fields}
                )
                return _refused(request, workspace, kept, decision.retry_after)
        if form.is_valid():
            data = form.cleaned_data
            try:
                created = privacy_request_submit_public(
                    workspace=workspace,
                    name=data["name"],
                    email=data["email"],
                    phone=data["phone"],
                    type=data["type"],
                    scope=data["scope"],
                    message=data["message"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                context = {"workspace": workspace, "reference": created.reference}
                return render(request, "privacy/public_done.html", context)
    status = 400 if form.errors else 200
    return render(
        request, "privacy/public_form.html", {"workspace": workspace, "form": form}, status=status
    )
