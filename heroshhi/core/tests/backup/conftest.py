"""Backup tests: fresh key caches (settings change keys in between), and their own VAR_DIR,
so the export files of other tests never enter an archive."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from heroshhi.core.crypto import reset_key_caches


@pytest.fixture(autouse=True)
def fresh_key_caches() -> Iterator[None]:
    reset_key_caches()
    yield
    reset_key_caches()


@pytest.fixture
def var_dir(settings, tmp_path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    return settings.VAR_DIR
