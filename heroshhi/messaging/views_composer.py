"""The conversation's composer: a free-form reply (with quick replies) and an approved
template. Sends go through ``messaging.sending``, which holds every rule (window, opt-out,
restriction); a refused send comes back as ``SendRefused`` and is shown as a banner above
the composer."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from heroshhi.leads.forms import add_service_errors
from heroshhi.messaging import optout, sending, templates
from heroshhi.messaging.forms import ComposerForm
from heroshhi.messaging.models import Conversation
from heroshhi.messaging.views import conversation_of, optout_notice, to_conversation
from heroshhi.messaging.views_conversation import conversation_page
from heroshhi.workspaces.middleware import WorkspaceRequest


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
    return conversation_page(request, conversation, composer=composer, refusal=reason, status=409)


@require_POST
def conversation_send(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = conversation_of(request, conversation_id)
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
            return to_conversation(request, conversation)
    return conversation_page(request, conversation, composer=form, status=400)


@require_POST
def conversation_send_template(
    request: WorkspaceRequest, slug: str, conversation_id: uuid.UUID
) -> HttpResponse:
    conversation = conversation_of(request, conversation_id)
    try:
        template = templates.approved_template_for_input(
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
        return conversation_page(
            request, conversation, template_error=" ".join(exc.messages), status=400
        )
    return to_conversation(request, conversation)


def _template_variables(request: WorkspaceRequest, template: Any) -> list[str]:
    values = []
    for key in templates.template_variable_keys(template):
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
