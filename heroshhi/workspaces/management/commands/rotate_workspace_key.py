"""Rotate one workspace's data key and re-encrypt its values.

Blind-index keys are deliberately not rotated: every stored index would have to be
recomputed from its plaintext at once, or equality search and dedupe would break while the
job runs. That needs a versioned index column and a separate re-index job.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heroshhi.core.crypto.keys import MAX_CACHE_SECONDS
from heroshhi.workspaces.keys import DEFAULT_BATCH_SIZE, workspace_data_key_rotate
from heroshhi.workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "Create a new data-key version for a workspace, re-encrypt every encrypted field "
        "under it in batches, then retire the older versions. Safe to re-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace slug.")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="Stop after this many batches; run again to continue.",
        )
        parser.add_argument(
            "--sweep",
            action="store_true",
            help="Do not create a new version; move rows still under older versions "
            "into the current key.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"No workspace with slug {options['workspace']!r}.")
        report = workspace_data_key_rotate(
            workspace=workspace,
            batch_size=options["batch_size"],
            max_batches=options["max_batches"],
            new_version=not options["sweep"],
            progress=self.stdout.write,
        )
        if report.key_id is None:
            self.stdout.write("This workspace has no data key yet; nothing to rotate.")
            return
        verb = "resumed" if report.resumed else "rotating into"
        self.stdout.write(
            f"{verb} data key v{report.version} ({report.key_id}): "
            f"{report.total('scanned')} rows scanned, {report.total('reencrypted')} "
            f"re-encrypted, {report.total('skipped')} already current, "
            f"{report.total('conflicts')} changed concurrently, "
            f"{report.total('unreadable')} unreadable."
        )
        if report.total("unreadable"):
            self.stdout.write(
                self.style.WARNING(
                    "Some rows could not be decrypted and were left as they are; "
                    "their primary keys are in the log."
                )
            )
        if not report.finished:
            self.stdout.write(self.style.WARNING("Stopped early; run the command again."))
        elif report.total("conflicts"):
            self.stdout.write(self.style.WARNING("Some rows changed during the run; run it again."))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Done; {report.retired_versions} older version(s) retired.")
            )
            self.stdout.write(
                "Other processes may keep using the old key from their cache for up to "
                f"{MAX_CACHE_SECONDS} s; run again with --sweep after that."
            )
