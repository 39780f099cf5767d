"""Template helpers for team pages."""

from __future__ import annotations

from django import template

from heroshhi.workspaces.labels import role_label as _role_label

register = template.Library()


@register.filter
def role_label(role: str) -> str:
    """``{{ member.role|role_label }}``: the translated name of a stored role code."""
    return _role_label(role)
