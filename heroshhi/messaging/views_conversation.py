"""One conversation of the team inbox: the page, its polled fragment, received media, and
the internal note, assignment and open/closed controls beside the thread.

The polled fragment answers 204 while the thread is unchanged; when the composer itself must
change (the window closed, the contact opted out) the new composer comes along out of band.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.forms import add_service_errors, member_label
from heroshhi.leads.selectors import member_for_input, members_list
from heroshhi.messaging import inbound, selectors, services_inbox, templates
from heroshhi.messaging.forms import AssignForm, ComposerForm, InternalNoteForm
from heroshhi.messaging.models import Conversation, Message
from heroshhi.messaging.transport import TransportError
from heroshhi.messaging.views import (
    can,
    conversation_of,
    optout_notice,
    page_digest,
    simulator_customer_url,
    to_conversation,
    viewer_of,
)
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.permissions import Capability

MEDIA_KINDS = frozenset(
    {Message.Kind.IMAGE, Message.Kind.VIDEO, Message.Kind.AUDIO, Message.Kind.DOCUMENT}
    | {Message.Kind.STICKER}
)


def _window_left_label(state: selectors.ConversationState) -> str:
    left = state.window_left()
    if left is None:
        return ""
    minutes = int(left.total_seconds() // 60)
    return _("%(h)d h %(m)d m") % {"h": minutes // 60, "m": minutes % 60}


def _live_context(
    request: WorkspaceRequest, conversation: Conversation, state: selectors.ConversationState
) -> dict[str, Any]:
    """What the polled part of the page shows: the banners and the thread."""
    return {
        "conversation": conversation,
        "lead": conversation.lead,
        "state": state,
        "window_left": _window_left_label(state),
        "optout_text": optout_notice(state.optout_record) if state.opted_out else "",
        "media_kinds": MEDIA_KINDS,
        "items": selectors.conversation_thread(
            workspace=request.workspace, conversation=conversation
        ),
    }


def _composer_context(
    request: WorkspaceRequest,
    conversation: Conversation,
    state: selectors.ConversationState,
    *,
    composer: ComposerForm | None = None,
    refusal: str = "",
    template_error: str = "",
) -> dict[str, Any]:
    return {
        "conversation": conversation,
        "state": state,
        "can_chat": can(request, Capability.CHAT) and conversation.channel.deleted_at is None,
        "composer": composer or ComposerForm(),
        "templates": templates.template_choices(
            workspace=request.workspace, channel=conversation.channel, lead=conversation.lead
        ),
        "template_action": reverse(
            "messaging:send_template",
            kwargs={"slug": request.workspace.slug, "conversation_id": conversation.pk},
        ),
        "refusal": refusal,
        "template_error": template_error,
    }


def _live_html(
    request: WorkspaceRequest, conversation: Conversation, state: selectors.ConversationState
) -> tuple[str, str]:
    body = render_to_string(
        "messaging/conversation.html#live-body",
        _live_context(request, conversation, state),
        request=request,
    )
    return body, page_digest(body)


def conversation_page(
    request: WorkspaceRequest,
    conversation: Conversation,
    *,
    composer: ComposerForm | None = None,
    note_form: InternalNoteForm | None = None,
    refusal: str = "",
    template_error: str = "",
    status: int = 200,
) -> HttpResponse:
    workspace = request.workspace
    state = selectors.conversation_state(workspace=workspace, conversation=conversation)
    live_body, digest = _live_html(request, conversation, state)
    lead = conversation.lead
    assign_form = None
    if can(request, Capability.LEADS_ASSIGN):
        assign_form = AssignForm(
            initial={"member": str(lead.owner_id or "")},
            members=members_list(workspace=workspace),
        )
    context = {
        **_composer_context(
            request,
            conversation,
            state,
            composer=composer,
            refusal=refusal,
            template_error=template_error,
        ),
        "lead": lead,
        "live_body": live_body,
        "digest": digest,
        "note_form": note_form or InternalNoteForm(),
        "can_note": can(request, Capability.NOTES_WRITE),
        "assign_form": assign_form,
        "owner_name": member_label(lead.owner) if lead.owner else "",
        "simulator_url": simulator_customer_url(),
    }
    return render(request, "messaging/conversation.html", context, status=status)


@require_GET
def conversation_detail(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = conversation_of(request, conversation_id)
    services_inbox.conversation_mark_read(
        workspace=request.workspace, actor=request.actor, conversation=conversation
    )
    return conversation_page(request, conversation)


@require_GET
def conversation_live(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    """The polled fragment: 204 when nothing changed since ``v``; else the new thread, and
    a new composer out of band when the window or the opt-out state changed."""
    conversation = conversation_of(request, conversation_id)
    # The agent is looking at it: whatever came in is read.
    services_inbox.conversation_mark_read(
        workspace=request.workspace, actor=request.actor, conversation=conversation
    )
    state = selectors.conversation_state(workspace=request.workspace, conversation=conversation)
    body, digest = _live_html(request, conversation, state)
    if request.GET.get("v") == digest:
        return HttpResponse(status=204)
    context = {
        "conversation": conversation,
        "live_body": body,
        "digest": digest,
        "state": state,
    }
    if request.GET.get("state") != state.key:
        context.update(_composer_context(request, conversation, state))
        context["composer_oob"] = True
    return render(request, "messaging/conversation.html#live-swap", context)


@require_GET
def conversation_media(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID, message_id: uuid.UUID
) -> HttpResponse:
    """A received photo, voice note or document, fetched from WhatsApp as it is asked for
    and always handed over as an attachment (never rendered inside our origin)."""
    conversation = conversation_of(request, conversation_id)
    with workspace_scope(request.workspace):
        message = get_in_scope_or_404(Message.objects.filter(conversation=conversation), message_id)
    try:
        media = inbound.media_download(
            workspace=request.workspace, actor=request.actor, message=message
        )
    except ValidationError:
        raise Http404 from None
    except TransportError:
        messages.error(request, _("WhatsApp could not hand over this file right now. Try again."))
        return to_conversation(request, conversation)
    response = HttpResponse(media.content, content_type=media.content_type)
    response["Content-Disposition"] = content_disposition_header(True, media.filename)
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
def conversation_note(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = conversation_of(request, conversation_id)
    form = InternalNoteForm(request.POST)
    if form.is_valid():
        try:
            services_inbox.conversation_note_add(
                workspace=request.workspace,
                actor=request.actor,
                conversation=conversation,
                body=form.cleaned_data["body"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Internal note added."))
            return to_conversation(request, conversation)
    return conversation_page(request, conversation, note_form=form, status=400)


@require_POST
def conversation_assign(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = conversation_of(request, conversation_id)
    value = request.POST.get("member", "")
    try:
        member = member_for_input(workspace=request.workspace, value=value) if value else None
        services_inbox.conversation_assign(
            workspace=request.workspace,
            actor=request.actor,
            conversation=conversation,
            member=member,
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("Conversation assigned."))
    if (
        selectors.visible_conversations(viewer=viewer_of(request))
        .filter(pk=conversation.pk)
        .exists()
    ):
        return to_conversation(request, conversation)
    return redirect("messaging:inbox", slug=slug)


@require_POST
def conversation_status(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = conversation_of(request, conversation_id)
    status = request.POST.get("status", "")
    if status not in Conversation.Status.values:
        messages.error(request, _("Choose open or closed."))
        return to_conversation(request, conversation)
    services_inbox.conversation_set_status(
        workspace=request.workspace, actor=request.actor, conversation=conversation, status=status
    )
    if status == Conversation.Status.CLOSED:
        messages.success(request, _("Conversation closed."))
        return redirect("messaging:inbox", slug=slug)
    messages.success(request, _("Conversation reopened."))
    return to_conversation(request, conversation)
