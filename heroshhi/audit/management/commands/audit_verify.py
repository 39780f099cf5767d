"""``manage.py audit_verify [--workspace <uuid> | --platform]``: check the audit chains.

Prints one line per chain and exits with status 1 when any chain fails, so cron or CI can
alert on it. Each line also counts the chain's queued events (written, not linked yet) and
says how long the oldest has waited, with a warning once that is over a minute: the events
are safe, but no sequencer is linking them (docs/adr/0015-audit-sequencer.md).
"""

from __future__ import annotations

import uuid
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from heroshhi.audit.models import PLATFORM_CHAIN
from heroshhi.audit.selectors import QUEUE_STALE_AFTER
from heroshhi.audit.verify import ChainResult, verify_chains


def _workspace_chain(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise CommandError("--workspace takes a workspace UUID.") from exc


class Command(BaseCommand):
    help = "Verify the audit log HMAC chains and report the first problem in each."

    def add_arguments(self, parser: ArgumentParser) -> None:
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--workspace", metavar="UUID", help="Only this workspace's chain.")
        scope.add_argument("--platform", action="store_true", help="Only the platform chain.")

    def handle(self, *args: Any, **options: Any) -> None:
        chains: list[str] | None = None
        if options["workspace"] is not None:
            chains = [_workspace_chain(options["workspace"])]
        elif options["platform"]:
            chains = [PLATFORM_CHAIN]
        results = verify_chains(chains)
        for result in results:
            self.stdout.write(self._line(result))
        failed = [result for result in results if not result.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} audit chain(s) failed.")
        self.stdout.write(self.style.SUCCESS(f"{len(results)} audit chain(s) verified."))

    def _line(self, result: ChainResult) -> str:
        span = f"events={result.events_checked} from_seq={result.start_seq} head={result.head_seq}"
        span += f" queued={result.queue.count}"
        age = result.queue.age_seconds()
        if age is not None:
            span += f" oldest_queued={age:.1f}s"
        if result.problem is None:
            line = self.style.SUCCESS(f"OK    {result.chain}  {span}")
            if result.queue.is_stale():
                limit = int(QUEUE_STALE_AFTER.total_seconds())
                line += self.style.WARNING(f"  WARN queued over {limit} s: is a sequencer running?")
            return line
        problem = result.problem
        where = "in the queue" if problem.seq is None else f"at seq {problem.seq}"
        return self.style.ERROR(
            f"FAIL  {result.chain}  {span}  {problem.code} {where}: {problem.detail}"
        )
