"""Test overrides on top of the one settings module.

Keys and files live under var/test so tests never touch a developer's demo data.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault(
    "HEROSHHI_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from config.settings import *  # noqa: F403
from config.settings import CACHES as _BASE_CACHES

# Hashing cost is not what these tests measure; a test that checks Argon2 overrides this.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Parallel test processes share Redis and the broker: give each its own Redis database
# (tests clear the cache, which flushes a whole database) and its own queue.
_TEST_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "main")
if REDIS_URL:  # noqa: F405
    _worker_number = int(_TEST_PROCESS[2:]) if _TEST_PROCESS.startswith("gw") else 0
    _parts = urlsplit(REDIS_URL)  # noqa: F405
    CACHES = {
        "default": {
            **_BASE_CACHES["default"],
            # Database 0 is the developer's, 1 often the broker; tests use 2 and up.
            "LOCATION": urlunsplit(_parts._replace(path=f"/{2 + _worker_number % 14}")),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_DEFAULT_QUEUE = f"heroshhi-test-{_TEST_PROCESS}"

# Tasks run inline unless a test starts a real worker (see heroshhi/core/tests/test_jobs.py).
CELERY_TASK_ALWAYS_EAGER = True
# Each stored webhook runs its inbox task inline on commit, which tests rely on; the
# wake-up interval has tests of its own.
WEBHOOK_WAKE_INTERVAL_MS = 0
# A worker started inside a test process must not lower the priority of the whole test run.
WORKER_NICE = 0
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
INSTALLED_APPS = [*INSTALLED_APPS, "heroshhi.core.tests.crypto.testapp"]  # noqa: F405

# WhiteNoise warns when STATIC_ROOT is missing; tests serve through the finders instead.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
