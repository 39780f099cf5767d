"""Messaging talks to channels through its own protocol: no module of it imports WhatsApp."""

from __future__ import annotations

import ast
from pathlib import Path

import heroshhi.messaging

# Spelled in parts, so that grepping messaging for the module's name finds nothing at all.
FORBIDDEN = ".".join(("heroshhi", "whatsapp"))
MESSAGING = Path(heroshhi.messaging.__file__).parent
ROOT = MESSAGING.parent.parent


def _imported_modules(tree: ast.AST, *, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``tree``, wherever it stands
    (functions, ``if TYPE_CHECKING:`` blocks); relative imports are resolved from
    ``module``, the dotted name of the file (``pkg.__init__`` for a package)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".")[: -node.level] if node.level else []
            found.append((node.lineno, ".".join([*base, *filter(None, [node.module])])))
    return found


def _dotted(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_no_messaging_module_imports_whatsapp():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted(MESSAGING.rglob("*.py"))
        for line, name in _imported_modules(
            ast.parse(path.read_text(), filename=str(path)), module=_dotted(path)
        )
        if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")
    ]
    assert offenders == []


def test_the_check_sees_nested_type_checking_and_relative_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        f"    from {FORBIDDEN}.models import WhatsAppChannel\n"
        "def later():\n"
        f"    import {FORBIDDEN}.transport\n"
        "from ..whatsapp import parsing\n"
    )
    tree = ast.parse(source)
    names = {name for _line, name in _imported_modules(tree, module="heroshhi.messaging.inbound")}
    assert names == {"typing", f"{FORBIDDEN}.models", f"{FORBIDDEN}.transport", FORBIDDEN}
