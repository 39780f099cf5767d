"""Channel settings at /w/<slug>/settings/channels/: list, add, check, remove a number, and
the inbound items set aside from webhook deliveries, with their replay.

WorkspaceMiddleware has already turned the slug into ``request.membership`` (non-members
get 404); the views check ``channels.manage`` (owner, manager; sales get 403) and call the
services, which check it again. Secrets go in through the add form and never come back out:
no page, message or redirect carries them.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.forms import add_service_errors
from heroshhi.messaging import keywords
from heroshhi.messaging.keyword_words import DEFAULT_OPTIN_KEYWORDS, DEFAULT_OPTOUT_KEYWORDS
from heroshhi.messaging.models import MessagingSettings
from heroshhi.whatsapp import services, services_failed_items
from heroshhi.whatsapp.forms import ChannelCreateForm, ChannelDeleteForm, OptOutKeywordsForm
from heroshhi.whatsapp.models import FailedInboundItem, WhatsAppChannel
from heroshhi.whatsapp.selectors import access_channel, failed_items_list, live, templates_list
from heroshhi.whatsapp.services import DELETED
from heroshhi.workspaces.access import require_actor_capability
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.permissions import Capability


def _channels(request: WorkspaceRequest) -> list[WhatsAppChannel]:
    with workspace_scope(request.workspace):
        return list(
            live().annotate(
                template_count=Count(
                    "channel__templates", filter=~Q(channel__templates__status=DELETED)
                )
            )
        )


def _keywords_form(request: WorkspaceRequest) -> OptOutKeywordsForm:
    with workspace_scope(request.workspace):
        current = MessagingSettings.objects.first()
    return OptOutKeywordsForm(
        initial={
            "extra_optout_keywords": "\n".join(current.extra_optout_keywords if current else []),
            "extra_optin_keywords": "\n".join(current.extra_optin_keywords if current else []),
        }
    )


def _list_page(
    request: WorkspaceRequest,
    *,
    form: ChannelCreateForm | None = None,
    keywords_form: OptOutKeywordsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "channels": _channels(request),
        "form": form or ChannelCreateForm(),
        "keywords_form": keywords_form or _keywords_form(request),
        "builtin_optout": DEFAULT_OPTOUT_KEYWORDS,
        "builtin_optin": DEFAULT_OPTIN_KEYWORDS,
    }
    return render(request, "whatsapp/channels.html", context, status=status)


@require_GET
def channel_list(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.CHANNELS_MANAGE)
    return _list_page(request)


@require_POST
def optout_keywords_update(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.CHANNELS_MANAGE)
    form = OptOutKeywordsForm(request.POST)
    if form.is_valid():
        try:
            keywords.keywords_update(
                workspace=request.workspace,
                actor=request.actor,
                optout=form.lines("extra_optout_keywords"),
                optin=form.lines("extra_optin_keywords"),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Keywords saved."))
            return redirect("whatsapp:list", slug=slug)
    return _list_page(request, keywords_form=form, status=400)


@never_cache
@require_POST
def channel_add(request: WorkspaceRequest, slug: str) -> HttpResponse:
    require_actor_capability(request.actor, Capability.CHANNELS_MANAGE)
    form = ChannelCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            channel = services.channel_create(
                workspace=request.workspace,
                actor=request.actor,
                phone_number_id=data["phone_number_id"],
                waba_id=data["waba_id"],
                display_phone_number=data["display_phone_number"],
                access_token=data["access_token"],
                app_secret=data["app_secret"],
                verify_token=data["verify_token"],
                label=data["label"],
                throughput_tier=data["throughput_tier"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, _("Number added. Paste the webhook URL below into Meta, then check it.")
            )
            return redirect("whatsapp:detail", slug=slug, channel_id=channel.pk)
    return _list_page(request, form=form, status=400)


def _detail_page(
    request: WorkspaceRequest,
    channel: WhatsAppChannel,
    *,
    delete_form: ChannelDeleteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "channel": channel,
        "webhook_url": services.webhook_url(request, channel),
        "templates": templates_list(workspace=request.workspace, channel=channel),
        "delete_form": delete_form or ChannelDeleteForm(),
    }
    return render(request, "whatsapp/channel_detail.html", context, status=status)


def _access(request: WorkspaceRequest, channel_id: uuid.UUID) -> WhatsAppChannel:
    return access_channel(
        workspace=request.workspace, actor_role=request.membership.role, uid=channel_id
    )


@require_GET
def channel_detail(request: WorkspaceRequest, slug: str, channel_id: uuid.UUID) -> HttpResponse:
    return _detail_page(request, _access(request, channel_id))


@require_POST
def channel_check_view(request: WorkspaceRequest, slug: str, channel_id: uuid.UUID) -> HttpResponse:
    channel = _access(request, channel_id)
    result = services.channel_check(
        workspace=request.workspace, actor=request.actor, channel=channel
    )
    if result.ok:
        messages.success(
            request,
            _("Connected. %(count)d templates synced.") % {"count": result.templates},
        )
    else:
        messages.error(request, _("The check failed: %(error)s") % {"error": result.error})
    return redirect("whatsapp:detail", slug=slug, channel_id=channel.pk)


@require_POST
def channel_remove(request: WorkspaceRequest, slug: str, channel_id: uuid.UUID) -> HttpResponse:
    channel = _access(request, channel_id)
    form = ChannelDeleteForm(request.POST)
    if not form.is_valid():
        return _detail_page(request, channel, delete_form=form, status=400)
    services.channel_delete(workspace=request.workspace, actor=request.actor, channel=channel)
    messages.success(request, _("Number removed. Its conversations are kept."))
    return redirect("whatsapp:list", slug=slug)


@require_GET
def failed_items(request: WorkspaceRequest, slug: str) -> HttpResponse:
    """Pending items by default; ``?state=replayed`` shows the replayed ones."""
    state = request.GET.get("state")
    if state not in FailedInboundItem.State.values:
        state = FailedInboundItem.State.PENDING
    items = failed_items_list(
        workspace=request.workspace, actor_role=request.membership.role, state=state
    )
    return render(
        request,
        "whatsapp/failed_items.html",
        {"items": items, "state": state, "states": FailedInboundItem.State},
    )


def _replay_message(outcome: services_failed_items.ReplayOutcome) -> tuple[int, str]:
    """The toast a replay ends with: its level and text."""
    outcome_type = services_failed_items.ReplayOutcome
    if outcome == outcome_type.REPLAYED:
        return messages.SUCCESS, _("Item replayed.")
    if outcome == outcome_type.ALREADY_REPLAYED:
        return messages.INFO, _("This item was already replayed.")
    if outcome == outcome_type.FAILED:
        return messages.ERROR, _("The item failed again; its reason is updated.")
    return messages.ERROR, _("This item can no longer be replayed: its delivery is no longer kept.")


@require_POST
def failed_item_replay(request: WorkspaceRequest, slug: str, item_id: uuid.UUID) -> HttpResponse:
    replay = services_failed_items.failed_item_replay(
        workspace=request.workspace, actor=request.actor, item_id=item_id
    )
    level, text = _replay_message(replay.outcome)
    messages.add_message(request, level, text)
    return redirect("whatsapp:failed_items", slug=slug)
