"""The Lambda's deployment package: a deterministic zip of the `lambda_src` package and its dependencies.

Same sources give the same bytes, hence the same sha256 (and the same CodeSha256 on AWS), so
`lambda-deploy` can tell unchanged code from changed code: entries are sorted, every entry gets the
same timestamp and mode, and nothing generated (caches, bytecode) or test-only goes in. Third-party
dependencies are wheels for the function's platform, unpacked at the zip's root (see `dependencies`).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import io
import os
import stat
import sys
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from lambda_src.function import RUNTIME

from . import dependencies
from .console import out, status
from .dependencies import Target
from .errors import InputError

PACKAGE_NAME = "lambda_src"


def python_version_of(runtime: str) -> tuple[int, int]:
    """(3, 12) for "python3.12"."""
    major, minor = runtime.removeprefix("python").split(".")
    return int(major), int(minor)


"""The zip's root folder: the handler is `lambda_src.app.handler` whatever the source folder is called."""
DEFAULT_OUTPUT = Path("build") / "lambda.zip"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
"""The earliest timestamp a zip entry can hold."""
FILE_MODE = 0o644
COMPRESSION_LEVEL = 9
DEPENDENCY_COMPRESSION_LEVEL = 6
"""Dependencies are 16 MB unzipped: level 9 takes 5x level 6's time (22 s vs 4.5 s here) for 0.5 % less."""
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "test", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".swp", "~")
EXCLUDED_FILES = frozenset({"conftest.py", ".DS_Store", dependencies.REQUIREMENTS_FILE})
FUNCTION_PYTHON = python_version_of(RUNTIME)
"""The function's runtime's Python (`lambda_src.function.RUNTIME`: python3.12)."""


@dataclass(frozen=True)
class Package:
    """A built deployment package."""

    data: bytes
    files: tuple[str, ...]
    """Archive names, in archive order."""

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def code_sha256(self) -> str:
        """The sha256 as Lambda reports it (`CodeSha256`): base64, not hex."""
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode("ascii")

    @property
    def size(self) -> int:
        return len(self.data)


def default_source() -> Path:
    """The `lambda_src` package this `util` runs with, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE_NAME)
    if spec is None or spec.origin is None:
        raise InputError(f"cannot find the {PACKAGE_NAME} package: pass --source DIR")
    return Path(spec.origin).parent


def build_package(source: Path, extra: Iterable[tuple[str, bytes, int]] = ()) -> Package:
    """Zip the package at `source` in memory, with `extra` (archive name, content, mode) entries beside it."""
    source = source.expanduser()
    if not (source / "__init__.py").is_file():
        raise InputError(f"--source {source} is not a Python package (no __init__.py): pass the {PACKAGE_NAME} folder")
    entries = {
        f"{PACKAGE_NAME}/{relative}": ((source / relative).read_bytes(), FILE_MODE)
        for relative in _package_files(source)
    }
    for name, content, mode in extra:
        if name in entries or name.split("/", 1)[0] == PACKAGE_NAME:
            raise InputError(f"a dependency's file {name!r} collides with the package's own")
        entries[name] = (content, mode)
    names = sorted(entries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSION_LEVEL) as archive:
        for name in names:
            content, mode = entries[name]
            level = COMPRESSION_LEVEL if name.startswith(f"{PACKAGE_NAME}/") else DEPENDENCY_COMPRESSION_LEVEL
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode bits above are honoured everywhere.
            archive.writestr(info, content, compresslevel=level)
    return Package(data=buffer.getvalue(), files=tuple(names))


def build_for(source: Path, target: Target) -> Package:
    """The package with its pinned dependencies as wheels for `target` (Lambda's architecture and Python)."""
    source = source.expanduser()
    wheel_files = dependencies.wheels(dependencies.requirements(source), target)
    return build_package(source, dependencies.wheel_entries(wheel_files))


@dataclass(frozen=True)
class CompileCheck:
    """Every .py of a package compiled, without running or writing anything."""

    files: int
    grammar: tuple[int, int]
    """The Python grammar the sources were parsed with: the function's, or this interpreter's if older."""


def compile_check(package: Package) -> CompileCheck:
    """Compile every .py in `package`; raises `InputError` naming FILE:LINE of the first that does not.

    Parsed with the function's grammar where this interpreter knows it (ast's feature_version cannot
    be newer than the interpreter), then compiled whole, which also catches what only the compiler
    sees (`return` outside a function, a misplaced `nonlocal`, ...).
    """
    grammar = min(FUNCTION_PYTHON, sys.version_info[:2])
    checked = 0
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        for name in package.files:
            # The function's own files: the dependencies' wheels were built and tested for the runtime.
            if not name.endswith(".py") or not name.startswith(f"{PACKAGE_NAME}/"):
                continue
            source = archive.read(name)
            try:
                with warnings.catch_warnings():
                    # Invalid escape sequences are warnings, not errors, on every runtime Lambda offers.
                    warnings.simplefilter("ignore", SyntaxWarning)
                    ast.parse(source, filename=name, feature_version=grammar)
                    compile(source, name, "exec", dont_inherit=True)
            except SyntaxError as error:
                where = f"{name}:{error.lineno}" if error.lineno else name
                raise InputError(f"{where}: {type(error).__name__}: {error.msg}: nothing deployed") from None
            except ValueError as error:  # null bytes in the source
                raise InputError(f"{name}: {error}: nothing deployed") from None
            checked += 1
    return CompileCheck(files=checked, grammar=(int(grammar[0]), int(grammar[1])))


def describe_check(check: CompileCheck) -> str:
    function = ".".join(map(str, FUNCTION_PYTHON))
    used = ".".join(map(str, check.grammar))
    caveat = "" if check.grammar == FUNCTION_PYTHON else f" (this interpreter is older than the function's {function})"
    return f"compiled {check.files} Python files with the Python {used} grammar{caveat}"


def write_package(package: Package, output: Path) -> Path:
    """Write atomically, so a concurrent reader never sees half a zip."""
    output = output.expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    partial.write_bytes(package.data)
    partial.replace(output)
    return output


def _package_files(source: Path) -> list[str]:
    """Relative POSIX paths of the files that belong in the package."""
    found: list[str] = []
    for directory, subdirs, filenames in os.walk(source):
        # Pruning in place keeps os.walk out of caches and tests entirely.
        subdirs[:] = [name for name in subdirs if name not in EXCLUDED_DIRS and not name.startswith(".")]
        for name in filenames:
            if _excluded(name):
                continue
            path = Path(directory) / name
            if path.is_file():
                found.append(path.relative_to(source).as_posix())
    return found


def _excluded(name: str) -> bool:
    return (
        name in EXCLUDED_FILES
        or name.startswith(".")
        or name.endswith(EXCLUDED_SUFFIXES)
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
    )


SourceOption = Annotated[
    Path | None,
    typer.Option(
        "--source",
        metavar="DIR",
        help="The lambda_src package folder to package.",
        show_default="the installed lambda_src",
        file_okay=False,
    ),
]


def command(
    *,
    source: SourceOption = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="PATH", help="Where to write the zip.", dir_okay=False)
    ] = DEFAULT_OUTPUT,
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch",
            metavar="ARCH",
            help="The function's architecture, arm64 or x86_64: the dependencies' wheels are for it. "
            "[default: deployment/lambda-runtime.json's]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Build the Lambda's deployment zip: deterministic, so the same sources give the same sha256."""
    facts = dependencies.runtime_facts()
    target = Target.of_runtime(facts.runtime, arch or facts.default_architecture)
    package = build_for(source or default_source(), target)
    status(describe_check(compile_check(package)))
    path = write_package(package, output)
    out.print(f"path: {path}", markup=False)
    out.print(f"size: {package.size} bytes", markup=False)
    out.print(f"sha256: {package.sha256_hex}", markup=False)
    out.print(f"CodeSha256: {package.code_sha256}", markup=False)
    status("sha256 and CodeSha256 are the same digest: hex, and base64 as Lambda reports it")
    out.print(f"target: {target.architecture} python{target.python_version}", markup=False)
