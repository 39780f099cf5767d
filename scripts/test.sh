#!/usr/bin/env bash
# Runs the whole suite. With DATABASE_URL / REDIS_URL / CELERY_BROKER_URL set, against them.
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${TEST_WORKERS:-auto}
exec .venv/bin/python -m pytest -n "$workers" --dist loadgroup "$@"
