"""gunicorn as production ran it until docs/adr/0012-web-server.md, for ``bench/servers.py``
to compare granian with: the gthread worker, ``WEB_CONCURRENCY`` processes (2) of
``WEB_THREADS`` threads (4), bound to ``HEROSHHI_BIND``. The TLS, proxy and access-log
settings of that file are left out: the benchmarks use none of them."""

import os
from pathlib import Path

# Gunicorn puts this folder on sys.path, so config.wsgi imports wherever it was started.
chdir = str(Path(__file__).resolve().parent.parent)
bind = [os.environ.get("HEROSHHI_BIND", "127.0.0.1:8000")]
# gthread served the most requests per second of gunicorn's workers in our measurements.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
proc_name = "heroshhi-web-gunicorn"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
accesslog = None
# As production had it without a proxy declared: no forwarding header believed.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
