"""The Lambda's third-party dependencies as wheels for the function's platform, unpacked into its package.

Lambda runs Linux on x86_64 or arm64 with the runtime's Python, whatever machine builds the package, so the
wheels are fetched for that platform (`pip download --only-binary=:all: --platform ... --python-version ...`),
never taken from the builder's own environment. The pins in `lambda_src/requirements.txt` name every package
(`--no-deps`), so the same pins give the same wheels; wheels are cached per target under the user's cache
directory (`$WSPUSH_WHEEL_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/wspush/wheels`), so only the first build
of a target downloads. The runtime and its instruction sets come from `deployment/lambda-runtime.json`, the
file Terraform reads too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import InputError, UtilError

REQUIREMENTS_FILE = "requirements.txt"
"""In the lambda_src folder; the zip leaves it out."""
RUNTIME_FILE = "lambda-runtime.json"
"""In deployment/: the runtime and architectures, shared with lambda.tf."""
WHEEL_CACHE_ENV = "WSPUSH_WHEEL_CACHE"
PLATFORM_TAGS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
"""manylinux2014 (glibc 2.17) wheels load on every Lambda Python runtime's Amazon Linux."""
MACHINE_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
PIP_TIMEOUT_S = 300.0
EXECUTABLE_MODE = 0o755
FILE_MODE = 0o644
RUNTIME_PATTERN = re.compile(r"python(3\.\d+)")


class DependencyError(UtilError):
    """The dependencies cannot be fetched for the target."""


@dataclass(frozen=True)
class Target:
    """Where the package will run: Lambda's architecture name and the runtime's Python version."""

    architecture: str
    python_version: str

    @property
    def platform_tag(self) -> str:
        return PLATFORM_TAGS[self.architecture]

    @classmethod
    def of_runtime(cls, runtime: str, architecture: str) -> Target:
        match = RUNTIME_PATTERN.fullmatch(runtime)
        if match is None:
            raise InputError(f"runtime {runtime!r} is not a Python runtime (pythonX.Y)")
        if architecture not in PLATFORM_TAGS:
            raise InputError(f"architecture {architecture!r} is not one of {', '.join(sorted(PLATFORM_TAGS))}")
        return cls(architecture, match.group(1))


@dataclass(frozen=True)
class RuntimeFacts:
    runtime: str
    architectures: tuple[str, ...]
    default_architecture: str


def runtime_facts(deployment_dir: Path | None = None) -> RuntimeFacts:
    """deployment/lambda-runtime.json: the one source of the runtime and architectures."""
    from .terraform import deployment_dir as find_deployment_dir

    path = (deployment_dir or find_deployment_dir()) / RUNTIME_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RuntimeFacts(str(data["runtime"]), tuple(data["architectures"]), str(data["default_architecture"]))
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"cannot read the Lambda runtime facts from {path}") from None


def default_target() -> Target:
    facts = runtime_facts()
    return Target.of_runtime(facts.runtime, facts.default_architecture)


def requirements(source: Path) -> list[str]:
    """The pinned requirements next to the package's sources (none when the file is absent)."""
    path = source / REQUIREMENTS_FILE
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    pins = [line for line in lines if line]
    for pin in pins:
        if not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", pin):
            raise InputError(f"{path}: {pin!r} is not pinned as NAME==VERSION")
    return pins


def wheel_cache_dir() -> Path:
    configured = os.environ.get(WHEEL_CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "wspush" / "wheels"


def wheels(pins: list[str], target: Target) -> list[Path]:
    """The wheels of `pins` for `target`, downloaded once per (pins, target) into the cache."""
    if not pins:
        return []
    key = hashlib.sha256(json.dumps([sorted(pins), target.platform_tag, target.python_version]).encode()).hexdigest()
    directory = wheel_cache_dir() / f"{target.architecture}-py{target.python_version}-{key[:16]}"
    if (directory / "complete").is_file():
        return sorted(directory.glob("*.whl"))
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=directory.parent))
    try:
        _pip_download(pins, target, staging)
        found = sorted(staging.glob("*.whl"))
        if len(found) != len(pins):
            raise DependencyError(f"pip downloaded {len(found)} wheels for {len(pins)} pinned packages")
        (staging / "complete").write_text("\n".join(pins) + "\n", encoding="utf-8")
        try:
            staging.rename(directory)
        except OSError:  # another build filled the cache meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(directory.glob("*.whl"))


def _pip_download(pins: list[str], target: Target, into: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--no-deps",
        "--platform",
        target.platform_tag,
        "--python-version",
        target.python_version,
        "--implementation",
        "cp",
        "--dest",
        str(into),
        *pins,
    ]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise DependencyError(f"pip download did not finish within {PIP_TIMEOUT_S:g} s") from None
    if completed.returncode != 0:
        errors = [line for line in completed.stderr.splitlines() if line.startswith("ERROR")]
        detail = errors[-1] if errors else f"exit {completed.returncode}"
        raise DependencyError(
            f"cannot download the Lambda's dependencies for {target.architecture}/python{target.python_version}: "
            f"{detail}"
        )


def wheel_entries(wheel_files: list[Path]) -> Iterator[tuple[str, bytes, int]]:
    """(archive name, content, mode) of every file the wheels install, as pip would lay them out in site-packages.

    `*.data/purelib` and `*.data/platlib` land at the root; scripts, headers and bytecode are left out.
    """
    for wheel in wheel_files:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = _installed_name(PurePosixPath(info.filename))
                if name is None:
                    continue
                executable = name.endswith(".so") or bool((info.external_attr >> 16) & 0o111)
                yield name, archive.read(info), EXECUTABLE_MODE if executable else FILE_MODE


def _installed_name(path: PurePosixPath) -> str | None:
    if path.is_absolute() or ".." in path.parts or "__pycache__" in path.parts or path.suffix == ".pyc":
        return None
    first = path.parts[0]
    if first.endswith(".data"):
        if len(path.parts) < 3 or path.parts[1] not in ("purelib", "platlib"):
            return None
        return PurePosixPath(*path.parts[2:]).as_posix()
    return path.as_posix()
