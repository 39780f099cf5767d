"""The Celery application; its configuration is the CELERY_* block of config/settings.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("heroshhi")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
