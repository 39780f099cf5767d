"""The one-INSERT ceiling: ``.venv/bin/python bench/ceiling.py``.

What one web server, with production's settings, middleware and database connections, can
answer per second when the view does nothing but one INSERT: the yardstick every HTTP
benchmark here measures in the same invocation and prints its own figures against
("% of ceiling"). On a shared, noisy machine both move together, so the share says how
much of the server's headroom a route's own work takes, whatever the neighbours do.

How the ceiling matches the routes it is compared with:

* the same server: ``httpbench.serving`` starts it as the benchmark starts its own
  (``config/granian.py``, as production, or ``bench/gunicorn_config.py``) with the same
  processes, threads and environment (``DATABASE_URL`` with its ``CONN_MAX_AGE``,
  ``REDIS_URL``, log level);
* the same settings: ``bench/ceiling_settings.py`` is ``config.settings`` with one change,
  ``ROOT_URLCONF = "bench.ceiling_urls"``, which puts one view at
  ``/_bench/ceiling/insert`` in front of the project's routes. Nothing outside ``bench/``
  names either module, so the view exists only while a benchmark runs this server. It
  passes the whole ``MIDDLEWARE`` as an anonymous POST (CSRF-exempt, like a webhook), and
  stays on that whole stack even where a route skips part of it (``/webhooks/``), so the
  saving shows up as a larger share;
* the INSERT goes to ``bench_ceiling_hit``, a plain table the benchmark creates (no tenant
  data), in autocommit, with a body of about a webhook's size;
* the same client: ``wrk`` with ``bench/wrk/post.lua`` and one thread, which the other
  benchmarks use too. Its CPU use is printed beside each figure ("client": the share of
  one core wrk took), so it can be seen not to be the bottleneck.

Other benchmarks call ``running(server, env)`` to start a ceiling server beside their own
and ``Ceiling.measure(concurrency, seconds)`` right before each of their own runs.

Standing alone it needs PostgreSQL: ``DATABASE_URL`` is an admin connection, and the
database ``<its name>_bench_ceiling`` is created there and dropped at the end::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6 .venv/bin/python bench/ceiling.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpbench
from httpbench import Load, Server

CEILING_SETTINGS = "bench.ceiling_settings"
CEILING_PATH = "/_bench/ceiling/insert"
CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_ceiling_hit "
    "(id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
)
# About the size of a one-message WhatsApp webhook.
BODY = json.dumps({"object": "bench_ceiling", "padding": "x" * 480}).encode()
LEVELS = (1, 4, 16)


@dataclass(frozen=True)
class Ceiling:
    url: str
    bodies: Path

    def measure(self, concurrency: int, seconds: float) -> Load:
        return httpbench.wrk(
            self.url, self.bodies, concurrency=concurrency, seconds=seconds, repeat=True
        )


@contextmanager
def running(server: Server, env: dict[str, str]) -> Iterator[Ceiling]:
    """A ceiling server beside the benchmark's own, on the same database, warmed up."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as connection:
        connection.execute(CREATE_TABLE)
    ceiling_env = {**env, "DJANGO_SETTINGS_MODULE": CEILING_SETTINGS}
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-ceiling-") as folder,
        httpbench.serving(server, ceiling_env) as base,
    ):
        bodies = Path(folder) / "ceiling.bodies"
        httpbench.write_bodies(bodies, [("", BODY)])
        ceiling = Ceiling(url=base + CEILING_PATH, bodies=bodies)
        ceiling.measure(4, 2)  # connections, caches and the table warmed up
        yield ceiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=httpbench.SERVERS, default=httpbench.PRODUCTION_SERVER)
    parser.add_argument("--workers", type=int, default=2, help="web server processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")
    parser.add_argument("--seconds", type=float, default=10, help="length of each run")
    args = parser.parse_args()
    admin_url = os.environ.get("DATABASE_URL", "")
    if not admin_url.startswith("postgres"):
        raise SystemExit("bench/ceiling.py needs DATABASE_URL=postgres://… (an admin connection)")
    server = Server(kind=args.server, workers=args.workers, threads=args.threads)
    with (
        tempfile.TemporaryDirectory(prefix="heroshhi-bench-") as workdir,
        httpbench.bench_database(admin_url, "ceiling") as database_url,
    ):
        env = httpbench.server_environment(workdir=workdir, database_url=database_url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity=0"],
            cwd=httpbench.ROOT,
            env=env,
            check=True,
        )
        print(f"{server.label}, load average {httpbench.load_average()}\n")
        print(httpbench.header_line("one INSERT, concurrency"))
        with running(server, env) as ceiling:
            for level in LEVELS:
                load = ceiling.measure(level, args.seconds)
                print(httpbench.figure_line(f"  {level}", load))


if __name__ == "__main__":
    main()
