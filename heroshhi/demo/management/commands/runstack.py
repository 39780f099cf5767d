"""`make run`: migrate, seed the demo, then run web, worker, beat and the WhatsApp simulator
until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from heroshhi.core.management.commands.serve import WEB_SERVER_MODULE
from heroshhi.core.models import Heartbeat
from heroshhi.core.tasks import WORKER_PING, worker_ping
from heroshhi.demo.seed import demo_seed

STOP_GRACE_SECONDS = 10
PING_TIMEOUT_SECONDS = 60


@dataclass
class Stack:
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        # Own process group, so Ctrl-C reaches us once and we stop children in order.
        # argv is built from constants and sys.executable, never from input.
        self.processes[name] = subprocess.Popen(argv, env=env, start_new_session=True)  # noqa: S603

    def first_exited(self) -> tuple[str, int] | None:
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> None:
        # SIGTERM to each leader only: granian and Celery shut their own children down
        # gracefully; the process group is killed only if that takes too long.
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


class Command(BaseCommand):
    help = (
        "Run the whole platform on this machine: web server, Celery worker, beat and the "
        "WhatsApp Cloud API simulator."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args: Any, port: int, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        login = demo_seed()

        env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        env["HEROSHHI_BIND"] = f"127.0.0.1:{port}"
        python = sys.executable
        stack = Stack()
        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        try:
            stack.start("whatsapp-simulator", self._simulator_argv(python), env)
            stack.start("web", [python, "-m", WEB_SERVER_MODULE], env)
            stack.start(
                "worker",
                [python, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-c", "2"],
                env,
            )
            stack.start(
                "beat",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "beat",
                    "-l",
                    "INFO",
                    "-s",
                    settings.CELERY_BEAT_SCHEDULE_FILENAME,
                ],
                env,
            )
            worker_state = self._round_trip(stack)
            simulator_url = f"http://127.0.0.1:{settings.WHATSAPP_SIMULATOR_PORT}"
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nHeroshhi Pro is running at http://127.0.0.1:{port}/\n"
                    f"  demo login: {login.email} / {login.password}\n"
                    f"  worker round-trip: {worker_state}\n"
                    f"  WhatsApp simulator (be the customer): {simulator_url}/_sim/customer\n"
                    "  Ctrl-C stops everything.\n"
                )
            )
            while not stopping:
                exited = stack.first_exited()
                if exited:
                    name, code = exited
                    raise CommandError(f"{name} exited with status {code}; stopping the rest.")
                time.sleep(0.5)
        finally:
            stack.stop()
            self.stdout.write("Stopped web, worker, beat and the WhatsApp simulator.")

    def _simulator_argv(self, python: str) -> list[str]:
        """The local stand-in for Meta's Graph API; its config file (numbers, templates) is
        optional and written by whoever sets up the demo channel."""
        argv = [python, "-m", "heroshhi.whatsapp.simulator", "serve"]
        argv += ["--port", str(settings.WHATSAPP_SIMULATOR_PORT)]
        config = settings.VAR_DIR / "wa-simulator.json"
        if config.exists():
            argv += ["--config", str(config)]
        return argv

    def _round_trip(self, stack: Stack) -> str:
        """Send a probe task and wait for the worker to write it back to the database."""
        sent_at = timezone.now()
        worker_ping.delay()
        deadline = time.monotonic() + PING_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if stack.first_exited():
                return "failed (a process exited)"
            if Heartbeat.objects.filter(name=WORKER_PING, at__gte=sent_at).exists():
                return "ok"
            time.sleep(0.25)
        return f"no answer within {PING_TIMEOUT_SECONDS}s"
