"""Platform tasks: the beat tick that /readyz watches, and a round-trip probe."""

from __future__ import annotations

from celery import shared_task

from heroshhi.core.services import heartbeat_record

BEAT_TICK = "beat"


@shared_task
def beat_tick() -> None:
    heartbeat_record(name=BEAT_TICK)


WORKER_PING = "worker-ping"


@shared_task
def worker_ping() -> None:
    """Prove a task travels broker → worker → database."""
    heartbeat_record(name=WORKER_PING)
