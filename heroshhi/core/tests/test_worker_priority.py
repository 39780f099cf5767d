"""A Celery worker lowers its CPU priority when it starts, so on a shared machine the web
server (and with it the webhook acknowledgement) comes first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# Fires the worker's start-up signal the way `celery worker` does, and prints the process's
# niceness before and after.
START_A_WORKER = """
import os, django
django.setup()
from celery.signals import worker_init
from config.celery import app
before = os.nice(0)
worker_init.send(sender=None, app=app)
print(before, os.nice(0))
"""
MAX_NICENESS = 19


def _start(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEROSHHI_WORKER")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", HEROSHHI_VAR_DIR=str(tmp_path))
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", START_A_WORKER],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(("setting", "raised"), [(None, 10), ("3", 3), ("0", 0)])
def test_the_worker_yields_the_cpu_by_the_configured_amount(tmp_path, setting, raised):
    variables = {} if setting is None else {"HEROSHHI_WORKER_NICE": setting}
    result = _start(tmp_path, **variables)
    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.strip().splitlines()[-1].split())
    # The kernel stops at 19, wherever the test run itself started.
    assert after == min(before + raised, MAX_NICENESS)


def test_a_negative_niceness_is_refused_by_name(tmp_path):
    result = _start(tmp_path, HEROSHHI_WORKER_NICE="-5")
    assert result.returncode != 0
    assert "HEROSHHI_WORKER_NICE" in result.stderr
