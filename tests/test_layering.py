"""The apps stand in layers (docs/architecture.md): a module may import its own layer and the
layers below it, never one above. Module-level imports form no cycle anywhere.

Imports inside functions and under TYPE_CHECKING count as dependencies too: hiding an import
in a function breaks a cycle at start-up, not the dependency. The few upward dependencies
that exist today are listed with their reason; a new one fails the test, and so does a listed
one that has gone (the list only shrinks).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom first. Apps of one layer may import each other.
LAYERS: list[tuple[str, set[str]]] = [
    # The Celery app object is infrastructure that core's health checks ping.
    ("core", {"heroshhi.core", "config.celery"}),
    ("platform", {"heroshhi.accounts", "heroshhi.workspaces", "heroshhi.audit"}),
    ("leads", {"heroshhi.leads"}),
    ("messaging", {"heroshhi.messaging"}),
    ("channels", {"heroshhi.whatsapp"}),
    ("privacy", {"heroshhi.privacy"}),
    ("entry", {"heroshhi.api", "heroshhi.demo", "config"}),
]

# (importing module, imported module): why it reaches up.
UPWARD: dict[tuple[str, str], str] = {
    # Deleting one's own account checks whether the person still owns a workspace's data.
    ("heroshhi.accounts.data_rights", "heroshhi.leads.models"): "account deletion",
    ("heroshhi.accounts.data_rights", "heroshhi.messaging.models"): "account deletion",
    # Removing a member hands their leads back; the team page shows recent leads.
    ("heroshhi.workspaces.services", "heroshhi.leads.services.assignment"): "member removal",
    ("heroshhi.workspaces.views", "heroshhi.leads.selectors"): "dashboard",
    # The whole-workspace export reads every app's rows (owed to the privacy layer).
    ("heroshhi.workspaces.export_build", "heroshhi.leads.export"): "workspace export",
    ("heroshhi.workspaces.export_build", "heroshhi.leads.models"): "workspace export",
    ("heroshhi.workspaces.export_build", "heroshhi.messaging.models"): "workspace export",
    # The lead list filters by opt-out state and conversation.
    ("heroshhi.leads.selectors", "heroshhi.messaging.models"): "opted-out filter",
    # A CSV import records marketing consent; sending refuses restricted contacts. Consent
    # and restriction are privacy's state that the lower layers consult.
    ("heroshhi.leads.services.imports", "heroshhi.privacy.consent"): "import consent",
    ("heroshhi.leads.services.imports", "heroshhi.privacy.models"): "import consent",
    ("heroshhi.messaging.delivery", "heroshhi.privacy.selectors"): "restriction check",
    ("heroshhi.messaging.sending", "heroshhi.privacy.selectors"): "restriction check",
}


def _layer_of(module: str) -> int | None:
    for index, (_, packages) in enumerate(LAYERS):
        if any(module == package or module.startswith(package + ".") for package in packages):
            return index
    return None


def _source_files() -> Iterator[tuple[str, Path]]:
    for top in ("heroshhi", "config"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def _imports(module: str, path: Path, *, top_level_only: bool) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = _top_level(tree.body) if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # "from heroshhi.x import y" may name a submodule y.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Imports that run when the module loads (not inside functions, not TYPE_CHECKING)."""
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            yield from _top_level(node.body)
            yield from _top_level(getattr(node, "orelse", []))
            for handler in getattr(node, "handlers", []):
                yield from _top_level(handler.body)
        else:
            yield node


def upward_imports() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for module, path in _source_files():
        own = _layer_of(module)
        for imported in _imports(module, path, top_level_only=False):
            target = _layer_of(imported)
            if own is not None and target is not None and target > own:
                found.add((module, _known_module(imported)))
    return found


def _known_module(name: str) -> str:
    """The module a dotted import name refers to (drops a trailing attribute name)."""
    modules = {module for module, _ in _source_files()}
    while name not in modules and "." in name:
        name = name.rpartition(".")[0]
    return name


def import_cycles() -> list[list[str]]:
    modules = dict(_source_files())
    graph = {
        module: {
            name
            for name in _imports(module, path, top_level_only=True)
            # A package loads before its modules; that is not a cycle.
            if name in modules and not module.startswith(name + ".") and name != module
        }
        for module, path in modules.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                cycles.append([*stack[stack.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_no_module_imports_a_higher_layer():
    unexpected = sorted(upward_imports() - set(UPWARD))
    assert unexpected == [], f"imports of a higher layer: {unexpected}"


def test_every_listed_upward_import_still_exists():
    gone = sorted(set(UPWARD) - upward_imports())
    assert gone == [], f"remove these from UPWARD, they no longer exist: {gone}"


def test_module_level_imports_form_no_cycle():
    assert import_cycles() == []


def test_every_app_has_a_layer():
    apps = {f"heroshhi.{path.parent.name}" for path in (ROOT / "heroshhi").glob("*/apps.py")}
    assert {app for app in apps if _layer_of(app) is None} == set()


def test_no_module_grows_past_600_lines():
    # Past this a module mixes concerns; split it by entity or concern (docs/architecture.md).
    long = {
        module: lines
        for module, path in _source_files()
        if (lines := len(path.read_text().splitlines())) > 600
    }
    assert long == {}
