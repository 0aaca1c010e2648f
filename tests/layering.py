"""The house's layering rules, checked on a source tree: who may import whom, and no import cycle.

Imports are read from the source (``ast``), wherever they are written (top level or inside a function);
those under ``if TYPE_CHECKING:`` are for annotations only and are left out.
"""

from __future__ import annotations

import ast
import graphlib
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("engine", "adapters")


@dataclass(frozen=True)
class Rule:
    name: str
    importer: tuple[str, ...]  # module prefixes the rule applies to
    forbidden: tuple[str, ...]  # module prefixes they may not import
    except_for: tuple[str, ...] = ()  # importers the rule exempts


RULES = (
    Rule("the engine never imports the Azure SDK", ("engine",), ("azure",)),
    Rule("only the CLI's wiring imports an adapter", ("engine",), ("adapters.fake", "adapters.azure", "adapters.storage"),
         except_for=("engine.cli.wiring",)),
    Rule("the engine's core never imports the CLI", ("engine",), ("engine.cli",), except_for=("engine.cli",)),
    Rule("the ports and the shared kernel import nothing of the engine", ("adapters",), ("engine",)),
    Rule("the fake adapter never imports the Azure adapter", ("adapters.fake",), ("adapters.azure",)),
    Rule("the Azure adapter never imports the fake adapter", ("adapters.azure",), ("adapters.fake",)),
    Rule("the ports and the shared kernel import neither adapter", ("adapters.ports", "adapters.shared"),
         ("adapters.fake", "adapters.azure", "adapters.storage")),
    Rule("the journal's storage imports neither cloud adapter", ("adapters.storage",),
         ("adapters.fake", "adapters.azure")),
)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The modules ``path`` imports: ``from package import module`` counts as the module itself."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(node.module)
    return found


def violations(root: Path) -> list[str]:
    known = modules(root)
    broken = []
    for module, path in sorted(known.items()):
        imported = imports_of(path, known)
        for rule in RULES:
            if not _within(module, rule.importer) or _within(module, rule.except_for):
                continue
            broken += [f"{rule.name}: {module} imports {name}" for name in sorted(imported)
                       if _within(name, rule.forbidden)]
    return broken


def import_cycle(root: Path) -> list[str] | None:
    """One cycle among the project's modules, or None."""
    known = modules(root)
    graph = {m: {i for i in imports_of(p, known) if i in known and i != m} for m, p in known.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        return cycle.args[1]
    return None
