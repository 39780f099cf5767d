"""`manage.py serve`: the production web server (granian with config/granian.py).

The command replaces itself with granian, so signals from a supervisor reach granian's
main process directly and the process id stays the same.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

# The one module that starts the web server; make run (runstack) starts the same.
WEB_SERVER_MODULE = "config.granian"


class Command(BaseCommand):
    help = (
        "Serve the web app with granian. With --tls-cert and --tls-key, terminate TLS here "
        "(TLS 1.3 only); otherwise put a TLS-terminating proxy in front (see docs/deploy-tls.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            default=os.environ.get("HEROSHHI_BIND"),
            help="host:port to listen on (default HEROSHHI_BIND, else 127.0.0.1:$PORT).",
        )
        parser.add_argument(
            "--tls-cert",
            default=os.environ.get("HEROSHHI_TLS_CERT_FILE"),
            help="PEM certificate chain (default HEROSHHI_TLS_CERT_FILE).",
        )
        parser.add_argument(
            "--tls-key",
            default=os.environ.get("HEROSHHI_TLS_KEY_FILE"),
            help="PEM private key (default HEROSHHI_TLS_KEY_FILE).",
        )

    def handle(
        self,
        *args: Any,
        bind: str | None,
        tls_cert: str | None,
        tls_key: str | None,
        **options: Any,
    ) -> None:
        env = dict(os.environ)
        if bind:
            env["HEROSHHI_BIND"] = bind
        if bool(tls_cert) != bool(tls_key):
            raise CommandError("Give both --tls-cert and --tls-key, or neither.")
        if tls_cert and tls_key:
            # Absolute paths: granian changes into the project folder before reading them.
            env["HEROSHHI_TLS_CERT_FILE"] = str(_readable(tls_cert, "--tls-cert"))
            env["HEROSHHI_TLS_KEY_FILE"] = str(_readable(tls_key, "--tls-key"))
        elif settings.PRODUCTION and not settings.TRUSTED_PROXY_COUNT:
            raise CommandError(
                "Production traffic must arrive over TLS: pass --tls-cert/--tls-key, or set "
                "HEROSHHI_TRUSTED_PROXY_COUNT when a TLS-terminating proxy sits in front."
            )

        argv = [sys.executable, "-m", WEB_SERVER_MODULE]
        sys.stdout.flush()
        sys.stderr.flush()
        # argv is fixed apart from sys.executable; all choices travel in the environment.
        # From the project folder, wherever the command was started: -m finds config there.
        os.chdir(settings.BASE_DIR)
        os.execve(sys.executable, argv, env)  # noqa: S606


def _readable(name: str, option: str) -> Path:
    path = Path(name).resolve()
    if not path.is_file() or not os.access(path, os.R_OK):
        raise CommandError(f"{option}: {path} is not a readable file.")
    return path
