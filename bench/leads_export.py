"""The CSV export of a whole workspace, streamed: run by ``bench/leads.py --export``.

A child process (so its peak RSS is the export's alone): it requests
``GET /api/v1/leads/export.csv`` through Django's test client with an owner API key (the
real middleware, API view and ``StreamingHttpResponse``; no socket), reads the stream to
the end, checks the row count and prints the wall time and peak RSS. It expects
``BENCH_VAR_DIR`` (keys), ``BENCH_DATABASE_URL`` (empty: SQLite in that folder) and
``BENCH_API_KEY`` from the parent.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expect", type=int, required=True, help="rows the export must hold")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    os.environ["HEROSHHI_VAR_DIR"] = os.environ["BENCH_VAR_DIR"]
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["HEROSHHI_API_RATE_LIMIT"] = "1000000"
    os.environ.pop("DATABASE_URL", None)
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    import django

    django.setup()
    from django.test import Client

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    response = Client().get(
        "/api/v1/leads/export.csv", HTTP_AUTHORIZATION=f"Bearer {os.environ['BENCH_API_KEY']}"
    )
    assert response.status_code == 200, response.status_code
    first_byte = None
    size = lines = 0
    for chunk in response.streaming_content:  # type: ignore[attr-defined]
        if first_byte is None:
            first_byte = time.perf_counter() - started
        size += len(chunk)
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = lines - 1  # the header
    assert rows == args.expect, f"exported {rows} rows, expected {args.expect}"
    label = f"CSV export, {rows:,} rows ({size / 1e6:,.0f} MB) streamed"
    print(f"{label:<52} {elapsed:>9.1f} s  ({rows / elapsed:,.0f} rows/s)")
    print(f"{'  first byte after':<52} {first_byte or 0:>9.2f} s")
    print(f"{'  export process peak RSS (after setup)':<52} {rss:>9,.0f} MB  ({rss_before:,.0f})")


if __name__ == "__main__":
    main()
