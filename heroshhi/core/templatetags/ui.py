"""Small helpers for the component templates in templates/components/."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.simple_tag
def list_of(*items: Any) -> list[Any]:
    """Builds a list in a template, e.g. the column headings handed to the table component:
    ``{% list_of name_heading phone_heading as columns %}``."""
    return list(items)
