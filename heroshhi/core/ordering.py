"""Ordered settings (pipeline stages, custom fields) keep positions 0, 1, 2, … in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Positioned(Protocol):
    position: int


def renumbered[T: Positioned](ordered: Sequence[T]) -> list[T]:
    """Give each item its index as position; the items whose position changed (to save)."""
    changed = []
    for position, item in enumerate(ordered):
        if item.position != position:
            item.position = position
            changed.append(item)
    return changed
