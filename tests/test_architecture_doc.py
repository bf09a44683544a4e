"""docs/architecture.md stays true: it names every module of the function and the CLI, every `util` command and
every environment variable the function or the CLI reads. A module, command or variable added without a line
there fails here, with the list of what is missing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import typer.main

from util.cli import app

REPOSITORY = Path(__file__).resolve().parents[1]
DOC = REPOSITORY / "docs" / "architecture.md"
PACKAGES = ("lambda_src", "util")
VARIABLE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
READERS = {"getenv", "_int_var", "_float_var", "_bool_var", "_str_var"}
"""Calls whose string argument names an environment variable (`_int_var(env, "X", ...)`, `os.getenv("X")`); `.get`
counts on `env` and `os.environ` only (a WSGI `environ` holds request fields, not variables)."""


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def modules() -> list[str]:
    return sorted(
        path.relative_to(REPOSITORY).as_posix()
        for package in PACKAGES
        for path in (REPOSITORY / package).rglob("*.py")
        if path.name != "__init__.py"
    )


def commands() -> list[str]:
    def walk(command: object, prefix: str) -> list[str]:
        children = getattr(command, "commands", None)
        if not children:
            return [prefix]
        found = [prefix] if prefix != "util" else []
        for name, child in sorted(children.items()):
            found += walk(child, f"{prefix} {name}")
        return found

    from util.local.cli import app as local_app  # mounted lazily as `util local` (util/cli.py)

    return walk(typer.main.get_command(app), "util") + walk(typer.main.get_command(local_app), "util local")


def variables_read_by(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
            if name in READERS or (name == "get" and receiver in {"env", "os.environ"}):
                found |= {
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and VARIABLE.match(arg.value)
                }
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            # `STORE_NAME_VARIABLES = {StoreKind.S3: "CONNECTIONS_BUCKET", ...}`
            if any(isinstance(t, ast.Name) and t.id.endswith("_VARIABLES") for t in node.targets):
                found |= {
                    v.value for v in node.value.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
                }
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            # `STORE_VARIABLE = "CONNECTION_STORE"`, `ENV_VAR = "WSPUSH_ENV"`: a variable named once, read by name.
            targets = [target.id for target in node.targets if isinstance(target, ast.Name)]
            value = node.value.value
            named = any(re.search(r"_(VAR|VARIABLE|ENV)$", target) for target in targets)
            if isinstance(value, str) and VARIABLE.match(value) and named:
                found.add(value)
    return found


def environment_variables() -> list[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for path in (REPOSITORY / package).rglob("*.py"):
            found |= variables_read_by(path)
    sources = "\n".join(path.read_text(encoding="utf-8") for path in (REPOSITORY / "util").rglob("*.py"))
    found |= set(re.findall(r"\bWSPUSH_[A-Z_]+\b", sources))
    # Lambda sets these for the function itself (the function reads them; they are no setting of ours).
    return sorted(name for name in found if not name.startswith(("AWS_LAMBDA_", "_")))


def test_every_module_is_named() -> None:
    text = doc_text()

    assert [module for module in modules() if f"`{module}`" not in text] == []


def test_every_command_is_named() -> None:
    text = doc_text()

    assert [command for command in commands() if f"`{command}`" not in text] == []


def test_every_environment_variable_is_named() -> None:
    text = doc_text()

    assert [name for name in environment_variables() if f"`{name}`" not in text] == []


def test_the_lists_see_what_the_code_has() -> None:
    # The walkers themselves: each list holds what a reader of the code finds by hand.
    assert "lambda_src/store/s3.py" in modules()
    assert "util/local/gateway/server.py" in modules()
    assert {"util connect", "util local up", "util send-data"} <= set(commands())
    assert {"SHARD_SIZE", "CONNECTION_STORE", "JWT_ISSUER", "WSPUSH_LOCAL_STATE"} <= set(environment_variables())
