"""The web server: granian serving ``config.wsgi:application``. ``python -m config.granian``.

``manage.py serve`` and ``make run`` start it; read from the environment (it starts before
Django, so it has its own readers):

- ``HEROSHHI_BIND``: address to listen on, default ``127.0.0.1:${PORT:-8000}``.
- ``WEB_CONCURRENCY`` / ``WEB_THREADS``: worker processes (2) and the threads each runs the
  app in (4).
- ``HEROSHHI_TLS_CERT_FILE`` + ``HEROSHHI_TLS_KEY_FILE``: terminate TLS here, 1.3 only (P03).
- ``HEROSHHI_ACCESS_LOG``: ``true`` writes an access log to stdout (off by default).
- ``LOG_LEVEL``: the server's own log level.

The process stays in front: SIGTERM stops it gracefully, SIGHUP starts fresh workers (which
load renewed certificate files).
"""

from __future__ import annotations

import os
from pathlib import Path

from granian.constants import Interfaces, SSLProtocols
from granian.log import LogLevels
from granian.server.mp import MPServer

# Only the path, never the query string, client address, referrer or user agent (personal
# data the app logs itself where it needs to).
ACCESS_LOG_FORMAT = '[%(time)s] "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms'
PROJECT_DIR = Path(__file__).resolve().parent.parent


def _env_int(name: str, default: int, *, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}.") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return value


def _env_flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in {"", "0", "false", "no", "off"}:
        return False
    if raw in {"1", "true", "yes", "on"}:
        return True
    raise ValueError(f"{name} must be true or false, got {raw!r}.")


def _bind() -> tuple[str, int]:
    bind = os.environ.get("HEROSHHI_BIND") or f"127.0.0.1:{_env_int('PORT', 8000, minimum=1)}"
    host, separator, port = bind.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"HEROSHHI_BIND must be host:port, got {bind!r}.")
    return host.strip("[]"), int(port)


def server() -> MPServer:
    host, port = _bind()
    workers = _env_int("WEB_CONCURRENCY", 2, minimum=1)
    threads = _env_int("WEB_THREADS", 4, minimum=1)
    cert = os.environ.get("HEROSHHI_TLS_CERT_FILE") or None
    key = os.environ.get("HEROSHHI_TLS_KEY_FILE") or None
    if bool(cert) != bool(key):
        raise ValueError("Set both HEROSHHI_TLS_CERT_FILE and HEROSHHI_TLS_KEY_FILE, or neither.")
    level = os.environ.get("LOG_LEVEL", "info").lower()
    return MPServer(
        "config.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        # Backpressure is left at granian's default (the listen backlog per worker): it
        # counts open connections, idle keep-alive ones included, so holding it at the
        # thread count let a few idle browsers stall every new visitor (bench/soak.py).
        websockets=False,
        log_level=LogLevels(level if level != "warn" else "warning"),
        log_access=_env_flag("HEROSHHI_ACCESS_LOG"),
        log_access_format=ACCESS_LOG_FORMAT,
        ssl_cert=Path(cert) if cert else None,
        ssl_key=Path(key) if key else None,
        ssl_protocol_min=SSLProtocols.tls13,
        working_dir=PROJECT_DIR,
        # A worker that dies is replaced, as gunicorn's arbiter does.
        respawn_failed_workers=True,
    )


if __name__ == "__main__":
    server().serve()
