"""The Lambda's modules form a layered graph: no import cycles (type-only and deferred imports count too),
and nothing in `lambda_src` imports `util` (the package ships alone)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "lambda_src"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE


def _module_name(path: Path) -> str:
    return f"{PACKAGE}.{path.stem}" if path.stem != "__init__" else PACKAGE


def imports_of(path: Path) -> set[str]:
    """Every module of any package that `path` imports, anywhere in the file (inside functions and
    `if TYPE_CHECKING:` too), with relative imports resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = f"{PACKAGE}.{base}" if base else PACKAGE
            found.add(base)
            # `from . import logs` imports the module `lambda_src.logs`.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE_DIR.glob("*.py")}
    return {name: imports_of(path) & set(modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that starts and ends at the same module, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_lambda_src_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())

    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_graph_sees_relative_type_only_and_deferred_imports() -> None:
    graph = import_graph()

    assert "lambda_src.delivery" in graph["lambda_src.routes"]
    assert "lambda_src.logs" in graph["lambda_src.app"]  # `from . import logs`
    assert "lambda_src.store" in graph["lambda_src.services"]


def test_find_cycle_reports_a_cycle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_lambda_src_never_imports_util() -> None:
    importers = [
        path.name
        for path in PACKAGE_DIR.glob("*.py")
        if any(name == "util" or name.startswith("util.") for name in imports_of(path))
    ]

    assert importers == []
