"""Message templates as messaging reads them: placeholders, rendering, the approved ones of a
channel and the composer's choices with their variables prefilled from the lead."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.messaging.models import Channel, MessageTemplate
from heroshhi.workspaces.models import Workspace

APPROVED = "APPROVED"
# The same placeholder syntax the inbox shows: {{1}} or {{first_name}}.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]{1,40})\s*\}\}")
_FIRST_NAME_KEYS = frozenset({"1", "first_name", "firstname", "fname"})
_FULL_NAME_KEYS = frozenset({"name", "full_name", "fullname", "customer_name", "contact_name"})


def template_placeholders(body: str) -> list[str]:
    """Placeholder keys in body order, each once ("1", "2", … or named ones)."""
    return list(dict.fromkeys(PLACEHOLDER.findall(body or "")))


def render_template(body: str, variables: list[str]) -> str:
    """The body as the contact will read it: each placeholder replaced by its value."""
    values = dict(zip(template_placeholders(body), variables, strict=False))
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), body)


def approved_template_names(*, workspace: Workspace, channel: Channel) -> list[str]:
    """Names of the channel's approved templates, each once, for "send a template" hints."""
    with workspace_scope(workspace):
        names = (
            MessageTemplate.objects.filter(channel=channel, status=APPROVED)
            .order_by("name")
            .values_list("name", flat=True)
            .distinct()
        )
        return list(names)


@dataclass(frozen=True, slots=True)
class TemplateVariable:
    key: str
    value: str

    @property
    def placeholder(self) -> str:
        return "{{" + self.key + "}}"


@dataclass(frozen=True, slots=True)
class TemplateChoice:
    template: MessageTemplate
    variables: list[TemplateVariable]


def approved_templates(*, workspace: Workspace, channel: Channel) -> list[MessageTemplate]:
    with workspace_scope(workspace):
        return list(
            MessageTemplate.objects.filter(channel=channel, status=APPROVED).order_by(
                "name", "language"
            )
        )


def template_variable_keys(template: MessageTemplate) -> list[str]:
    """Placeholder names in body order ("1", "2", … or named ones), each once."""
    keys = template_placeholders(template.body or "")
    if not keys and template.parameter_count:
        keys = [str(n) for n in range(1, template.parameter_count + 1)]
    return keys


def _prefill(key: str, lead: Lead) -> str:
    name = " ".join((lead.name or "").split())
    if key.lower() in _FIRST_NAME_KEYS:
        return name.split(" ")[0] if name else ""
    if key.lower() in _FULL_NAME_KEYS:
        return name
    return ""


def template_choices(*, workspace: Workspace, channel: Channel, lead: Lead) -> list[TemplateChoice]:
    """The channel's approved templates, each with its variables prefilled from the lead
    where the name says what goes there (and the first positional one is the first name)."""
    return [
        TemplateChoice(
            template=template,
            variables=[
                TemplateVariable(key=key, value=_prefill(key, lead))
                for key in template_variable_keys(template)
            ],
        )
        for template in approved_templates(workspace=workspace, channel=channel)
    ]


def approved_template_for_input(
    *, workspace: Workspace, channel: Channel, value: object
) -> MessageTemplate:
    """The channel's approved template with this id, or a ``template`` field error."""
    try:
        uid = uuid.UUID(str(value))
    except ValueError:
        raise ValidationError({"template": [_("Choose one of the approved templates.")]}) from None
    with workspace_scope(workspace):
        template = MessageTemplate.objects.filter(pk=uid, channel=channel, status=APPROVED).first()
    if template is None:
        raise ValidationError({"template": [_("Choose one of the approved templates.")]})
    return template
