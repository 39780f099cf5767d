"""The team inbox under /w/<slug>/inbox/: the conversation list, one conversation with its
composer, and the messaging panel of the lead page.

Thin like every view: parse, call one service or selector, render. Sends go through
``messaging.sending``, which holds every rule (window, opt-out, restriction); a refused send
comes back as ``SendRefused`` and is shown as a banner above the composer.

The open conversation polls a fragment every few seconds. The fragment carries a digest of
what it showed last time, so an unchanged thread costs a 204 and nothing is swapped (the
agent's scroll position and focus stay put); when the composer itself must change (the
window closed, the contact opted out) the new composer comes along out of band.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from heroshhi.core.tenancy import get_in_scope_or_404, workspace_scope
from heroshhi.leads.access import access_lead
from heroshhi.leads.forms import add_service_errors, member_label
from heroshhi.leads.models import Lead
from heroshhi.leads.selectors import Viewer, member_for_input, members_list
from heroshhi.messaging import calls, inbound, optout, selectors, sending, services_inbox
from heroshhi.messaging.forms import AssignForm, CallLogForm, ComposerForm, InternalNoteForm
from heroshhi.messaging.models import Conversation, Message, OptOutRecord
from heroshhi.messaging.transport import TransportError
from heroshhi.workspaces.middleware import WorkspaceRequest
from heroshhi.workspaces.permissions import Capability, has_capability

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MEDIA_KINDS = frozenset(
    {Message.Kind.IMAGE, Message.Kind.VIDEO, Message.Kind.AUDIO, Message.Kind.DOCUMENT}
    | {Message.Kind.STICKER}
)


def _viewer(request: WorkspaceRequest) -> Viewer:
    return Viewer(role=request.membership.role, member_id=request.membership.pk)


def _can(request: WorkspaceRequest, capability: Capability) -> bool:
    return has_capability(request.membership.role, capability)


def _conversation(request: WorkspaceRequest, conversation_id: uuid.UUID) -> Conversation:
    return selectors.conversation_for_viewer(
        workspace=request.workspace, viewer=_viewer(request), uid=conversation_id
    )


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
    viewer = _viewer(request)
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
        "channels": selectors.live_channels(workspace=request.workspace),
        "next_query": urlencode({"tab": filters.tab, **keep, "cursor": page.next_cursor or ""}),
        "closed_query": urlencode(
            {"tab": filters.tab, **({} if filters.closed else {"closed": "1"})}
        ),
        "can_manage_channels": _can(request, Capability.CHANNELS_MANAGE),
    }
    if errors:
        context["list_body"] = _render_list(request, context)
        return render(request, "messaging/inbox.html", context, status=400)
    # The list polls itself like the thread does: 204 while nothing changed.
    body = _render_list(request, context)
    digest = _digest(body)
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


# One conversation -----------------------------------------------------------------------------


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
        "can_chat": _can(request, Capability.CHAT) and conversation.channel.deleted_at is None,
        "composer": composer or ComposerForm(),
        "templates": selectors.template_choices(
            workspace=request.workspace, channel=conversation.channel, lead=conversation.lead
        ),
        "template_action": reverse(
            "messaging:send_template",
            kwargs={"slug": request.workspace.slug, "conversation_id": conversation.pk},
        ),
        "refusal": refusal,
        "template_error": template_error,
    }


def _digest(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()[:16]


def _live_html(
    request: WorkspaceRequest, conversation: Conversation, state: selectors.ConversationState
) -> tuple[str, str]:
    body = render_to_string(
        "messaging/conversation.html#live-body",
        _live_context(request, conversation, state),
        request=request,
    )
    return body, _digest(body)


def _conversation_page(
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
    if _can(request, Capability.LEADS_ASSIGN):
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
        "can_note": _can(request, Capability.NOTES_WRITE),
        "assign_form": assign_form,
        "owner_name": member_label(lead.owner) if lead.owner else "",
        "simulator_url": simulator_customer_url(),
    }
    return render(request, "messaging/conversation.html", context, status=status)


@require_GET
def conversation_detail(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    services_inbox.conversation_mark_read(
        workspace=request.workspace, actor=request.actor, conversation=conversation
    )
    return _conversation_page(request, conversation)


@require_GET
def conversation_live(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    """The polled fragment: 204 when nothing changed since ``v``; else the new thread, and
    a new composer out of band when the window or the opt-out state changed."""
    conversation = _conversation(request, conversation_id)
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
    conversation = _conversation(request, conversation_id)
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
        return _to_conversation(request, conversation)
    response = HttpResponse(media.content, content_type=media.content_type)
    response["Content-Disposition"] = content_disposition_header(True, media.filename)
    response["Cache-Control"] = "private, no-store"
    return response


def _refused(
    request: WorkspaceRequest,
    conversation: Conversation,
    error: sending.SendRefused,
    *,
    composer: ComposerForm | None = None,
) -> HttpResponse:
    """A send the rules stopped: the page again, with the reason above the composer."""
    if error.code == "opted_out":
        state = optout.lead_state(workspace=request.workspace, lead=conversation.lead)
        reason = optout_notice(state.latest if state.opted_out else None)
    else:
        reason = str(error.message)
    reason = _("Not sent. %(reason)s") % {"reason": reason}
    return _conversation_page(request, conversation, composer=composer, refusal=reason, status=409)


def _to_conversation(request: WorkspaceRequest, conversation: Conversation) -> HttpResponse:
    return redirect(
        "messaging:conversation", slug=request.workspace.slug, conversation_id=conversation.pk
    )


@require_POST
def conversation_send(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    form = ComposerForm(request.POST)
    if form.is_valid():
        try:
            sending.send_text(
                workspace=request.workspace,
                actor=request.actor,
                lead=conversation.lead,
                text=form.cleaned_data["text"],
                quick_replies=form.quick_replies(),
                channel=conversation.channel,
            )
        except sending.SendRefused as exc:
            return _refused(request, conversation, exc, composer=form)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            return _to_conversation(request, conversation)
    return _conversation_page(request, conversation, composer=form, status=400)


@require_POST
def conversation_send_template(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    try:
        template = selectors.approved_template_for_input(
            workspace=request.workspace,
            channel=conversation.channel,
            value=request.POST.get("template", ""),
        )
        variables = _template_variables(request, template)
        sending.send_template(
            workspace=request.workspace,
            actor=request.actor,
            lead=conversation.lead,
            template_name=template.name,
            language=template.language,
            variables=variables,
            channel=conversation.channel,
        )
    except sending.SendRefused as exc:
        return _refused(request, conversation, exc)
    except ValidationError as exc:
        return _conversation_page(
            request, conversation, template_error=" ".join(exc.messages), status=400
        )
    return _to_conversation(request, conversation)


def _template_variables(request: WorkspaceRequest, template: Any) -> list[str]:
    values = []
    for key in selectors.template_variable_keys(template):
        value = " ".join(request.POST.get(f"var_{key}", "").split())
        if not value:
            raise ValidationError(
                _("Fill in every variable of the template (%(key)s is empty).")
                % {"key": "{{" + key + "}}"}
            )
        if len(value) > 1024:
            raise ValidationError(_("Keep each variable under 1,024 characters."))
        values.append(value)
    return values


@require_POST
def conversation_note(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
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
            return _to_conversation(request, conversation)
    return _conversation_page(request, conversation, note_form=form, status=400)


@require_POST
def conversation_assign(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
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
    if selectors.visible_conversations(viewer=_viewer(request)).filter(pk=conversation.pk).exists():
        return _to_conversation(request, conversation)
    return redirect("messaging:inbox", slug=slug)


@require_POST
def conversation_status(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = _conversation(request, conversation_id)
    status = request.POST.get("status", "")
    if status not in Conversation.Status.values:
        messages.error(request, _("Choose open or closed."))
        return _to_conversation(request, conversation)
    services_inbox.conversation_set_status(
        workspace=request.workspace, actor=request.actor, conversation=conversation, status=status
    )
    if status == Conversation.Status.CLOSED:
        messages.success(request, _("Conversation closed."))
        return redirect("messaging:inbox", slug=slug)
    messages.success(request, _("Conversation reopened."))
    return _to_conversation(request, conversation)


# The lead page's panel ------------------------------------------------------------------------


def _lead(request: WorkspaceRequest, lead_id: uuid.UUID, perm: Capability) -> Lead:
    return access_lead(
        workspace=request.workspace,
        actor_role=request.membership.role,
        member_id=request.membership.pk,
        uid=lead_id,
        perm=perm,
    )


def _call_form_initial() -> dict[str, Any]:
    return {"started_at": timezone.localtime().replace(second=0, microsecond=0)}


def _panel(
    request: WorkspaceRequest,
    lead: Lead,
    *,
    call_form: CallLogForm | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    panel = selectors.lead_panel(workspace=request.workspace, lead=lead)
    context = {
        "panel": panel,
        "lead": lead,
        "optout_text": optout_notice(panel.optout_record) if panel.opted_out else "",
        "call_form": call_form or CallLogForm(initial=_call_form_initial()),
        "panel_errors": errors or [],
        "can_log_call": _can(request, Capability.CALLS_LOG),
        "can_opt_out": _can(request, Capability.CHAT),
        "can_opt_in": _can(request, Capability.CHANNELS_MANAGE),
    }
    if request.htmx:  # type: ignore[attr-defined]
        # htmx swaps only 2xx answers, so form errors come back as 200 with the messages.
        return render(request, "messaging/lead_panel.html#panel", context)
    return render(request, "messaging/lead_panel.html", context, status=status)


@require_GET
def lead_panel(request: WorkspaceRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    return _panel(request, _lead(request, lead_id, Capability.LEADS_VIEW_ASSIGNED))


def _after_panel_action(request: WorkspaceRequest, lead: Lead, notice: str) -> HttpResponse:
    """The fresh panel for htmx (it shows the change itself), else back to the lead page."""
    if request.htmx:  # type: ignore[attr-defined]
        return _panel(request, lead)
    messages.success(request, notice)
    return redirect("leads:detail", slug=request.workspace.slug, lead_id=lead.pk)


@require_POST
def lead_optout(request: WorkspaceRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _lead(request, lead_id, Capability.LEADS_VIEW_ASSIGNED)
    action = request.POST.get("action", "")
    if action not in {"opt_out", "opt_in"}:
        return _panel(request, lead, errors=[_("Choose opt out or opt in.")], status=400)
    change = optout.lead_opt_out if action == "opt_out" else optout.lead_opt_in
    try:
        change(
            workspace=request.workspace,
            actor=request.actor,
            lead=lead,
            method=OptOutRecord.Method.MANUAL,
        )
    except ValidationError as exc:
        return _panel(request, lead, errors=exc.messages, status=400)
    except PermissionDenied:
        return _panel(
            request,
            lead,
            errors=[_("Only owners and managers can opt a contact back in.")],
            status=403,
        )
    if action == "opt_out":
        return _after_panel_action(
            request, lead, _("Marked as opted out. Nothing more will be sent.")
        )
    return _after_panel_action(request, lead, _("Opted back in. Messages can be sent again."))


@require_POST
def lead_call_log(request: WorkspaceRequest, slug: str, lead_id: uuid.UUID) -> HttpResponse:
    lead = _lead(request, lead_id, Capability.CALLS_LOG)
    form = CallLogForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            calls.call_log(
                workspace=request.workspace,
                actor=request.actor,
                lead=lead,
                direction=data["direction"],
                started_at=data["started_at"],
                duration_seconds=data["duration"],
                outcome=data["outcome"],
                notes=data["notes"] or None,
                recording_url=data["recording_url"] or None,
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "duration_seconds" in exc.error_dict:
                exc.error_dict["duration"] = exc.error_dict.pop("duration_seconds")
            add_service_errors(form, exc)
        else:
            return _after_panel_action(request, lead, _("Call logged."))
    return _panel(request, lead, call_form=form, status=400)
