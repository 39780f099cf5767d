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

# Hashing cost is not what these tests measure; a test that checks Argon2 overrides this.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if not REDIS_URL:  # noqa: F405
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Tasks run inline unless a test starts a real worker (see heroshhi/core/tests/test_jobs.py).
CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
