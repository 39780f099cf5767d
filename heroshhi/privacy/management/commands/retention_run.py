"""``manage.py retention_run [--dry-run] [--workspace SLUG]``: apply the retention rules now.

Prints one line per rule with its counts and the run's id. ``--dry-run`` deletes nothing
and reports what would go. Exits with status 1 when a rule failed or another run holds
the lock, so cron or CI can alert on it.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from heroshhi.privacy.models import RetentionRun
from heroshhi.privacy.retention.rules import RULES
from heroshhi.privacy.retention.runs import RetentionLocked, retention_run
from heroshhi.workspaces.models import Workspace


class Command(BaseCommand):
    help = "Apply the retention rules (audit, trash, owners' policies, terminated workspaces)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; change nothing."
        )
        parser.add_argument("--workspace", metavar="SLUG", help="Only this workspace's rules.")
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="Stop after this many batches; the next run continues.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = None
        if options["workspace"]:
            workspace = Workspace.objects.filter(slug=options["workspace"]).first()
            if workspace is None:
                raise CommandError(f"No workspace with the slug {options['workspace']!r}.")
        if options["max_batches"] is not None and options["max_batches"] < 1:
            raise CommandError("--max-batches must be at least 1.")
        try:
            run = retention_run(
                dry_run=options["dry_run"],
                workspace=workspace,
                trigger=RetentionRun.Trigger.COMMAND,
                max_batches=options["max_batches"],
            )
        except RetentionLocked as exc:
            raise CommandError("Another retention run is working; try again later.") from exc
        label = "DRY RUN " if run.dry_run else ""
        self.stdout.write(f"{label}retention run {run.pk} ({run.duration_ms} ms)")
        for rule in RULES:
            result = run.results.get(rule, {})
            if result.get("skipped"):
                self.stdout.write(f"  {rule:<22} skipped ({result['skipped']})")
                continue
            counts = ", ".join(f"{table}={n}" for table, n in result.get("counts", {}).items())
            self.stdout.write(f"  {rule:<22} {counts or 'nothing due'}")
        if run.status == RetentionRun.Status.INCOMPLETE:
            self.stdout.write(self.style.WARNING("Stopped at the batch budget; run again."))
        if run.errors:
            for error in run.errors:
                self.stderr.write(
                    f"  error in {error['rule']} {error['workspace'] or ''}: {error['error']}"
                )
            raise CommandError(f"{len(run.errors)} rule failure(s); see the report.")
        self.stdout.write(self.style.SUCCESS(f"Status: {run.get_status_display()}"))
