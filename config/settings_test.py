"""Test overrides on top of the one settings module.

Keys and files live under var/test so tests never touch a developer's demo data.
"""

import os
from pathlib import Path

os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault(
    "HEROSHHI_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from config.settings import *  # noqa: F403
from config.settings import CACHES as _BASE_CACHES

# Hashing cost is not what these tests measure; a test that checks Argon2 overrides this.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Parallel test processes share Redis and the broker: give each its own namespace.
_TEST_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "main")
if REDIS_URL:  # noqa: F405
    CACHES = {"default": {**_BASE_CACHES["default"], "KEY_PREFIX": f"heroshhi-{_TEST_PROCESS}"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_DEFAULT_QUEUE = f"heroshhi-test-{_TEST_PROCESS}"

# Tasks run inline unless a test starts a real worker (see heroshhi/core/tests/test_jobs.py).
CELERY_TASK_ALWAYS_EAGER = True
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
INSTALLED_APPS = [*INSTALLED_APPS, "heroshhi.core.tests.crypto.testapp"]  # noqa: F405

# WhiteNoise warns when STATIC_ROOT is missing; tests serve through the finders instead.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
