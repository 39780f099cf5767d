"""The team inbox under /w/<slug>/inbox/: the conversation list, and what its pages share.

The pages are split by concern: the list here, one conversation in ``views_conversation``,
its composer in ``views_composer``, the lead page's messaging panel in ``views_lead_panel``
and the opt-out ledger in ``views_optouts``. Thin like every view: parse, call one service
or selector, render.

The list and the open conversation poll themselves. A poll carries a digest of what it
showed last time, so an unchanged page costs a 204 and nothing is swapped (the agent's
scroll position and focus stay put).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from heroshhi.leads.selectors import Viewer
from heroshhi.messaging import channels, selectors
from heroshhi.messaging.models import Conversation, OptOutRecord
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.permissions import Capability, has_capability

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def viewer_of(request: WorkspaceRequest) -> Viewer:
    return Viewer(role=request.membership.role, member_id=request.membership.pk)


def can(request: WorkspaceRequest, capability: Capability) -> bool:
    return has_capability(request.membership.role, capability)


def conversation_of(request: WorkspaceRequest, conversation_id: uuid.UUID) -> Conversation:
    return selectors.conversation_for_viewer(
        workspace=request.workspace, viewer=viewer_of(request), uid=conversation_id
    )


def to_conversation(request: WorkspaceRequest, conversation: Conversation) -> HttpResponse:
    return redirect(
        "messaging:conversation", slug=request.workspace.slug, conversation_id=conversation.pk
    )


def page_digest(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()[:16]


def simulator_customer_url() -> str | None:
    """The WhatsApp simulator's "be the customer" page, only while the Graph API base URL
    points at the local simulator outside production; never a link to anything real."""
    base = settings.WHATSAPP_GRAPH_BASE_URL
    if settings.PRODUCTION or urlsplit(base).hostname not in _LOOPBACK_HOSTS:
        return None
    return base.rstrip("/") + "/_sim/customer"


def optout_notice(record: OptOutRecord | None) -> str:
    """ "This contact opted out on 3 Jan 2026 (keyword reply “stop”)." — for the banners."""
    if record is None:
        return _("This contact opted out. Nothing can be sent to them until they opt back in.")
    when = timezone.localtime(record.created_at).strftime("%-d %b %Y, %H:%M")
    how = record.get_method_display()
    if record.method == OptOutRecord.Method.KEYWORD and record.trigger:
        how = _("%(method)s “%(keyword)s”") % {"method": how, "keyword": record.trigger}
    return _(
        "This contact opted out on %(when)s (%(how)s). Nothing can be sent to them until "
        "they opt back in."
    ) % {"when": when, "how": how}


# The list ------------------------------------------------------------------------------------


@require_GET
def inbox(request: WorkspaceRequest, slug: str) -> HttpResponse:
    viewer = viewer_of(request)
    errors: list[str] = []
    page = selectors.InboxPage(rows=[], next_cursor=None)
    filters = selectors.InboxFilters(tab=selectors.default_tab(viewer))
    try:
        filters = selectors.parse_inbox_filters(
            viewer=viewer,
            tab=request.GET.get("tab"),
            channel=request.GET.get("channel"),
            closed=request.GET.get("closed"),
        )
        page = selectors.inbox_page(
            workspace=request.workspace,
            viewer=viewer,
            filters=filters,
            after=request.GET.get("cursor") or None,
        )
    except ValidationError as exc:
        errors = exc.messages
    keep = {"channel": str(filters.channel or ""), "closed": "1" if filters.closed else ""}
    keep = {key: value for key, value in keep.items() if value}
    tabs = [
        {
            "key": key,
            "label": label,
            "count": page.counts.get(key),
            "query": urlencode({"tab": key, **keep}),
        }
        for key, label in (
            (selectors.Tab.MINE, _("Mine")),
            (selectors.Tab.UNASSIGNED, _("Unassigned")),
            (selectors.Tab.ALL, _("All")),
        )
    ]
    context = {
        "page": page,
        "filters": filters,
        "tabs": tabs,
        "errors": errors,
        "channels": channels.live_channels(workspace=request.workspace),
        "next_query": urlencode({"tab": filters.tab, **keep, "cursor": page.next_cursor or ""}),
        "closed_query": urlencode(
            {"tab": filters.tab, **({} if filters.closed else {"closed": "1"})}
        ),
        "can_manage_channels": can(request, Capability.CHANNELS_MANAGE),
    }
    if errors:
        context["list_body"] = _render_list(request, context)
        return render(request, "messaging/inbox.html", context, status=400)
    # The list polls itself like the thread does: 204 while nothing changed.
    body = _render_list(request, context)
    digest = page_digest(body)
    if request.htmx and request.GET.get("v") == digest:  # type: ignore[attr-defined]
        return HttpResponse(status=204)
    query = {key: value for key, value in request.GET.items() if key != "v"}
    context["list_body"] = body
    context["list_poll_url"] = f"{request.path}?{urlencode({**query, 'v': digest})}"
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "messaging/inbox.html#list", context)
    return render(request, "messaging/inbox.html", context)


def _render_list(request: WorkspaceRequest, context: dict[str, Any]) -> str:
    return render_to_string("messaging/inbox.html#list-body", context, request=request)
