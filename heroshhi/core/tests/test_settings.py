"""Bad configuration stops the process at start, naming the variable."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _production_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HEROSHHI_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="production",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        HEROSHHI_MASTER_KEYS="k1:" + base64.b64encode(os.urandom(32)).decode(),
        HEROSHHI_AUDIT_KEY=secrets.token_urlsafe(48),
        DJANGO_ALLOWED_HOSTS="crm.example.com",
        EMAIL_HOST="smtp.example.com",
        HEROSHHI_VAR_DIR=str(tmp_path),
    )
    return env


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('loaded')"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_load_when_everything_is_configured(tmp_path):
    result = _load_settings(_production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "loaded" in result.stdout


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG"),
        ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + "x" * 60}, "DJANGO_SECRET_KEY"),
        ({"HEROSHHI_MASTER_KEYS": None}, "HEROSHHI_MASTER_KEYS"),
        ({"HEROSHHI_AUDIT_KEY": None}, "HEROSHHI_AUDIT_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": None}, "DJANGO_ALLOWED_HOSTS"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
        (
            {"DATABASE_CONN_MAX_AGE": "soon", "DATABASE_URL": "postgres://x@h/db"},
            "DATABASE_CONN_MAX_AGE",
        ),
        ({"DJANGO_ENV": "staging"}, "DJANGO_ENV"),
        ({"HEROSHHI_EGRESS_LOOPBACK_HTTP": "true"}, "HEROSHHI_EGRESS_LOOPBACK_HTTP"),
        ({"EMAIL_HOST": None}, "EMAIL_HOST"),
        ({"HEROSHHI_FORWARDED_ALLOW_IPS": "10.0.0.1,proxy"}, "HEROSHHI_FORWARDED_ALLOW_IPS"),
        ({"HEROSHHI_BACKUP_KEY": "too-short-to-derive-from"}, "HEROSHHI_BACKUP_KEY"),
    ],
)
def test_production_refuses_to_start_with_bad_configuration(tmp_path, change, named):
    env = _production_env(tmp_path)
    for key, value in change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = _load_settings(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr


def test_a_secret_can_come_from_a_file(tmp_path):
    env = _production_env(tmp_path)
    secret_file = tmp_path / "secret"
    secret_file.write_text(env.pop("DJANGO_SECRET_KEY"))
    env["DJANGO_SECRET_KEY_FILE"] = str(secret_file)
    assert _load_settings(env).returncode == 0


def test_an_unreadable_secret_file_is_named(tmp_path):
    env = _production_env(tmp_path)
    env.pop("DJANGO_SECRET_KEY")
    env["DJANGO_SECRET_KEY_FILE"] = str(tmp_path / "missing")
    result = _load_settings(env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY_FILE" in result.stderr


def test_development_generates_private_key_files(tmp_path):
    env = _production_env(tmp_path)
    for key in ("DJANGO_ENV", "DJANGO_SECRET_KEY", "HEROSHHI_AUDIT_KEY", "DJANGO_DEBUG"):
        env.pop(key)
    result = _load_settings(env)
    assert result.returncode == 0, result.stderr
    for name in ("django_secret_key", "audit.key", "backup.key"):
        mode = (tmp_path / "keys" / name).stat().st_mode & 0o777
        assert mode == 0o600


def test_production_starts_without_a_backup_key_and_never_generates_one(tmp_path):
    # Only the processes that run backup or restore are given it (they refuse without it).
    env = _production_env(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(repr(settings.BACKUP_KEY))",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"
    assert not (tmp_path / "keys" / "backup.key").exists()
