"""Backups are infrastructure: the package imports core and the settings, never a domain app."""

from __future__ import annotations

import ast
from pathlib import Path

import heroshhi.core.backup

PACKAGE = Path(heroshhi.core.backup.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_backup_package_imports_no_domain_app():
    modules = [*PACKAGE.glob("*.py"), *PACKAGE.parent.glob("management/commands/[br]*.py")]
    assert len(modules) >= 8
    for module in modules:
        outside_core = {
            name
            for name in _imports(module)
            if name.startswith("heroshhi.") and not name.startswith("heroshhi.core.")
        }
        assert not outside_core, f"{module.name} imports {sorted(outside_core)}"
