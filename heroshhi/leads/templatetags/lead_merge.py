from __future__ import annotations

from django import template

from heroshhi.workspaces.permissions import Capability, has_capability

register = template.Library()


@register.filter
def can_merge_leads(role: str) -> bool:
    """Owners and managers may merge leads (edit rights and sight of every lead)."""
    return has_capability(role, Capability.LEADS_EDIT) and has_capability(
        role, Capability.LEADS_VIEW_ALL
    )
