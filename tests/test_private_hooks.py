"""No code of this project reaches into another library past its public API, except through a named adapter.

A private name (`_x`) of an imported library, or one of the undocumented parts this project once used, may appear
only in an adapter module (one small module per library, with its own test and the version range it was tested
with) or in that adapter's tests, which use the library's internals as the oracle."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
SCANNED = ("lambda_src", "util", "bench", "tests", "scripts", "clients")
PROJECT_PACKAGES = {"lambda_src", "util", "bench", "tests", "wspush_client"}
"""`wspush_client` (clients/python) is this project's own: its tests may read its private modules."""
ADAPTERS = {
    "util/local/aws/moto_adapter.py": "moto's server parts and serializer (TESTED_VERSIONS)",
    "lambda_src/aws/botocore_tuning.py": "botocore's response parser defaults (optional: skipped where absent)",
    "tests/parallel.py": "pytest's fixture definitions of a test (`_fixtureinfo`: pytest has no public API for them)",
}
ADAPTER_TESTS = {
    "tests/util/test_moto_adapter.py",
    "tests/util/test_moto_process.py",
    "tests/lambda_src/test_botocore_tuning.py",
    "tests/lambda_src/test_signing.py",
    "tests/test_parallel.py",
}
UNDOCUMENTED = {
    "parse_to_aware_datetime",
    "MotoRequestHandler",
    "DomainDispatcherApplication",
    "create_backend_app",
    "normalize_url_path",
    "set_parser_defaults",
}
"""Public-looking names that their libraries do not document as API: each was a hook, now behind an adapter."""


def is_library(module: str) -> bool:
    root = module.split(".", maxsplit=1)[0]
    return bool(root) and root not in PROJECT_PACKAGES and root not in sys.stdlib_module_names


def hooks_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    library_names: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if is_library(alias.name):
                    library_names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level and is_library(node.module):
            if any(part.startswith("_") for part in node.module.split(".")):
                found.append(f"from {node.module} import")
            for alias in node.names:
                library_names.add(alias.asname or alias.name)
                if alias.name.startswith("_") or alias.name in UNDOCUMENTED:
                    found.append(f"from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            if isinstance(base, ast.Name) and base.id in library_names and (private or node.attr in UNDOCUMENTED):
                found.append(ast.unparse(node))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"getattr", "setattr"}
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(name := node.args[1].value, str)
            and name.startswith("_")
            and not name.startswith("__")
        ):
            found.append(f"{node.func.id}(..., {name!r})")
    return found


def test_private_and_undocumented_library_names_appear_only_in_adapters() -> None:
    allowed = set(ADAPTERS) | ADAPTER_TESTS | {"tests/test_private_hooks.py"}
    offenders = {
        relative: hooks
        for folder in SCANNED
        for path in sorted((REPOSITORY / folder).rglob("*.py"))
        if (relative := path.relative_to(REPOSITORY).as_posix()) not in allowed and (hooks := hooks_in(path))
    }

    assert offenders == {}


def test_every_adapter_has_its_own_test() -> None:
    stems = {Path(test).stem for test in ADAPTER_TESTS}

    assert {f"test_{Path(adapter).stem}" for adapter in ADAPTERS} <= stems


def test_the_scan_sees_a_private_attribute_and_an_undocumented_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import concurrent.futures as cf\nfrom botocore.utils import normalize_url_path\n"
        "pool = cf.ThreadPoolExecutor(2)\nprint(cf.thread._threads_queues, getattr(pool, '_max_workers'))\n"
    )

    assert hooks_in(sample) == [
        "from botocore.utils import normalize_url_path",
        "getattr(..., '_max_workers')",
    ]
