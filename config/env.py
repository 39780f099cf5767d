"""Typed readers for environment configuration.

Every reader fails loudly with ``ImproperlyConfigured`` naming the variable, so a
bad value stops the process at start instead of surfacing as odd behaviour later.
Secrets may also come from ``<NAME>_FILE`` (Docker/Kubernetes secret mounts).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"Environment variable {name} is required.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false/1/0), got {raw!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(
    name: str, default: list[str]
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated addresses or networks (``10.0.0.0/8``); ``*`` stands for any."""
    networks = []
    for item in env_list(name, default):
        for value in ("0.0.0.0/0", "::/0") if item == "*" else (item,):
            try:
                networks.append(ipaddress.ip_network(value, strict=False))
            except ValueError:
                raise ImproperlyConfigured(
                    f"{name} must list IP addresses or networks, got {item!r}."
                ) from None
    return networks


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = env_str(name, default).strip().lower()
    if value not in choices:
        allowed = ", ".join(sorted(choices))
        raise ImproperlyConfigured(f"{name} must be one of {allowed}, got {value!r}.")
    return value


def env_secret(name: str) -> str | None:
    """A secret from ``NAME`` or from the file named by ``NAME_FILE``; None when neither is set."""
    direct = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if direct is not None:
        if not direct.strip():
            raise ImproperlyConfigured(f"{name} is set but empty.")
        return direct.strip()
    if file_name is not None:
        path = Path(file_name)
        try:
            content = path.read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE points to {file_name!r}, which cannot be read ({exc.strerror})."
            ) from None
        if not content:
            raise ImproperlyConfigured(f"{name}_FILE points to an empty file.")
        return content
    return None


def dev_secret_file(path: Path, *, generate: bool, name: str) -> str:
    """Read a development secret from ``path``, creating it (mode 0600) on first use.

    Production passes ``generate=False``: a missing file is then a configuration error,
    because a freshly generated key would silently make existing data unreadable.
    """
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ImproperlyConfigured(f"{path} ({name}) must not be readable by group or others.")
        return path.read_text().strip()
    if not generate:
        raise ImproperlyConfigured(f"{name} is not configured and cannot be generated here.")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value
