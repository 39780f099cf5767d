"""Gunicorn settings for every environment; start it with ``python manage.py serve``.

Read from the environment (gunicorn loads this file before Django, so it has its own readers):

- ``HEROSHHI_BIND``: address to listen on, default ``127.0.0.1:${PORT:-8000}``.
- ``WEB_CONCURRENCY`` / ``WEB_THREADS``: worker processes (2) and threads per worker (4).
- ``HEROSHHI_TLS_CERT_FILE`` + ``HEROSHHI_TLS_KEY_FILE``: terminate TLS here, 1.3 only (P03).
- ``HEROSHHI_TRUSTED_PROXY_COUNT``: above 0, ``X-Forwarded-Proto`` is believed from the
  addresses in ``HEROSHHI_FORWARDED_ALLOW_IPS`` (default loopback); at 0, from nobody.
- ``HEROSHHI_ACCESS_LOG``: ``true`` writes an access log to stdout (off by default).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


# Gunicorn puts this folder on sys.path, so config.wsgi imports wherever it was started.
chdir = str(Path(__file__).resolve().parent.parent)

bind = [os.environ.get("HEROSHHI_BIND") or f"127.0.0.1:{_env_int('PORT', 8000, minimum=1)}"]
# gthread served the most requests per second of gunicorn's workers in our measurements.
worker_class = "gthread"
workers = _env_int("WEB_CONCURRENCY", 2, minimum=1)
threads = _env_int("WEB_THREADS", 4, minimum=1)
proc_name = "heroshhi-web"

errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Off by default: request lines carry query strings. When on, only the path is written,
# and no client address, referrer or user agent (personal data the app logs where needed).
accesslog = "-" if _env_flag("HEROSHHI_ACCESS_LOG") else None
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# Gunicorn believes X-Forwarded-Proto from loopback out of the box; without a proxy in front
# any local process could then claim https. Trust is granted only when proxies are declared.
if _env_int("HEROSHHI_TRUSTED_PROXY_COUNT", 0, minimum=0):
    forwarded_allow_ips = os.environ.get("HEROSHHI_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
else:
    forwarded_allow_ips = ""
    secure_scheme_headers = {}

certfile = os.environ.get("HEROSHHI_TLS_CERT_FILE") or None
keyfile = os.environ.get("HEROSHHI_TLS_KEY_FILE") or None
if bool(certfile) != bool(keyfile):
    raise ValueError("Set both HEROSHHI_TLS_CERT_FILE and HEROSHHI_TLS_KEY_FILE, or neither.")

_server_context: ssl.SSLContext | None = None


def ssl_context(
    conf: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]
) -> ssl.SSLContext:
    """Gunicorn hook: the server's TLS context, refusing anything below TLS 1.3.

    Gunicorn asks for a context on every connection, and building one re-reads the key and
    trust files (about 2 ms), so each worker keeps the first. New certificates need a reload
    (SIGHUP), which starts fresh workers.
    """
    global _server_context
    if _server_context is None:
        context = default_ssl_context_factory()
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        _server_context = context
    return _server_context
