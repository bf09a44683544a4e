"""The Lambda's modules form a layered house: rooms (subpackages and the top-level modules) in floors, imports
only pointing down, no import cycle inside a room (type-only and deferred imports count too), and nothing in
`lambda_src` imports `util` (the package ships alone). docs/architecture.md draws the same floors."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "lambda_src"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE

FLOORS: list[set[str]] = [
    {"limits", "function", "errors"},
    {"observability"},
    {"aws"},
    {"store"},
    {"config"},
    {"protocol", "auth"},
    {"services"},
    {"delivery"},
    {"rooms"},
    {"handlers"},
    {"wiring"},
    {"app"},
]
"""Floor by floor from the ground up: a room may import its own modules and the rooms of lower floors only."""
MAX_TOP_LEVEL_MODULES = 8


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """`lambda_src.store.s3` is in room `store`; `lambda_src.app` is a room of its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imports_of(path: Path) -> set[str]:
    """Every module of any package that `path` imports, anywhere in the file (inside functions and
    `if TYPE_CHECKING:` too), with relative imports resolved."""
    found: set[str] = set()
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from lambda_src.observability import logs` imports the module `lambda_src.observability.logs`.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: (imports_of(path) & set(found)) - {name} for name, path in found.items()}


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


def floor_of(room: str) -> int:
    for index, floor in enumerate(FLOORS):
        if room in floor:
            return index
    raise AssertionError(f"room {room!r} stands on no floor of FLOORS: give it one")


def test_lambda_src_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())

    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_only_point_down_the_floors() -> None:
    upward = sorted(
        f"{importer} -> {imported}"
        for importer, targets in import_graph().items()
        for imported in targets
        if room_of(importer)
        and room_of(imported)
        and room_of(imported) != room_of(importer)
        and floor_of(room_of(imported)) >= floor_of(room_of(importer))
    )

    assert upward == []


def test_every_room_stands_on_a_floor_and_every_floor_has_a_room() -> None:
    rooms = {room_of(name) for name in modules()} - {""}

    assert rooms == set().union(*FLOORS)


def test_the_top_level_holds_at_most_eight_modules() -> None:
    top = sorted(path.stem for path in PACKAGE_DIR.glob("*.py") if path.stem != "__init__")

    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_the_graph_sees_subpackages_and_deferred_imports() -> None:
    graph = import_graph()

    assert "lambda_src.delivery.deliver" in graph["lambda_src.handlers.message"]
    assert "lambda_src.observability.logs" in graph["lambda_src.app"]  # `from lambda_src.observability import logs`
    assert "lambda_src.store.contract" in graph["lambda_src.services"]
    assert "lambda_src.store.s3" in graph["lambda_src.store.open"]  # imported inside `open_store`


def test_find_cycle_reports_a_cycle_through_three_modules() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_the_function_imports_its_own_modules_by_absolute_name() -> None:
    # One way to import: a relative import would read differently in every room.
    relative = sorted(
        name
        for name, path in modules().items()
        if any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(ast.parse(path.read_text())))
    )

    assert relative == []


def test_lambda_src_never_imports_util() -> None:
    importers = [
        name
        for name, path in modules().items()
        if any(imported == "util" or imported.startswith("util.") for imported in imports_of(path))
    ]

    assert importers == []
