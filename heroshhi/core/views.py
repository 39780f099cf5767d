"""Health endpoints."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from heroshhi.core import selectors
from heroshhi.core.readiness import readiness_notes

logger = logging.getLogger(__name__)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Nothing else is checked."""
    return JsonResponse({"status": "ok"})


def _check(name: str, probe: Callable[[], object]) -> bool:
    try:
        return bool(probe())
    except Exception:
        logger.warning("readiness check failed", extra={"check": name}, exc_info=True)
        return False


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: database, broker, beat and migrations, each reported by name.

    ``warnings`` say what needs a look without taking this process out of service; the apps
    register them (``heroshhi.core.readiness``), e.g. ``audit_queue_stale`` when an audit
    event has waited over a minute to be linked into its chain: that is a worker's or beat's
    trouble, not this process's, and refusing traffic would only stop the writes while every
    queued event stays safe (docs/adr/0015-audit-sequencer.md).
    """
    database = _check("database", selectors.database_ok)
    pending = None
    beat_age = None
    warnings: list[str] = []
    facts: dict[str, object] = {}
    if database:
        try:
            pending = selectors.migrations_pending()
            beat_age = selectors.beat_last_tick_age()
        except Exception:
            logger.warning("readiness check failed", extra={"check": "migrations"}, exc_info=True)
        if pending == 0:  # the probes read tables the migrations make
            warnings, facts = readiness_notes()
    checks = {
        "database": database,
        "broker": _check("broker", selectors.broker_ok),
        "migrations": pending == 0,
        "beat": selectors.beat_is_fresh(beat_age),
    }
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": checks,
        "warnings": warnings,
        "migrations_pending": pending,
        "beat_last_tick_seconds_ago": None if beat_age is None else round(beat_age, 1),
        **facts,
    }
    return JsonResponse(body, status=200 if ready else 503)
