"""The Celery application; its configuration is the CELERY_* block of config/settings.py."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("heroshhi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _yield_cpu_to_the_web_server(**_kwargs: Any) -> None:
    """Lower the worker's priority before it forks its pool (the children inherit it)."""
    from django.conf import settings

    if settings.WORKER_NICE:
        os.nice(settings.WORKER_NICE)
