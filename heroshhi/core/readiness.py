"""Warnings that ``/readyz`` reports beside its checks, registered by the apps that own them.

A warning says what needs a look without taking the process out of service (a failed check
does that). Core names no domain app: each registers its probe when it is ready
(``AppConfig.ready``), as the audit app does for its sequencer's queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReadinessNote:
    # A short code when something needs a look, else None.
    warning: str | None
    # Figures reported whatever the verdict, by name.
    facts: dict[str, object] = field(default_factory=dict)


_probes: dict[str, Callable[[], ReadinessNote]] = {}


def readiness_probe_register(name: str, probe: Callable[[], ReadinessNote]) -> None:
    _probes[name] = probe


def readiness_notes() -> tuple[list[str], dict[str, object]]:
    """Every registered probe's warning (if any) and facts; a probe that fails is logged
    and left out, since a warning must never be what makes the endpoint fail."""
    warnings: list[str] = []
    facts: dict[str, object] = {}
    for name, probe in _probes.items():
        try:
            note = probe()
        except Exception:
            logger.warning("readiness probe failed", extra={"check": name}, exc_info=True)
            continue
        if note.warning:
            warnings.append(note.warning)
        facts.update(note.facts)
    return warnings, facts
