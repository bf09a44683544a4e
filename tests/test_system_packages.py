"""scripts/system-packages: what `make test` and `make local` install on a fresh machine, and the one line they
print where they cannot. apt-get, id and sudo are stand-ins on PATH here (a test must not install or remove the
machine's packages); the script's decisions and the commands it runs are real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack  # runs a shell script (a subprocess): not in the fast tier

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system-packages"


def bin_dir(tmp_path: Path, *, uid: int, sudo: bool) -> Path:
    """A PATH of bash, env and python3 only, plus stand-ins: `apt-get` records its arguments, `id -u` says `uid`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("bash", "env", "cat"):
        (folder / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    (folder / "python3").symlink_to(sys.executable)
    log = tmp_path / "apt.log"
    (folder / "apt-get").write_text(f'#!/bin/bash\necho "$*" >> {log}\n')
    (folder / "id").write_text(f"#!/bin/bash\necho {uid}\n")
    if sudo:
        (folder / "sudo").write_text('#!/bin/bash\nshift\n[[ "$1" == true ]] && exit 0\nexec "$@"\n')
    for stand_in in folder.iterdir():
        stand_in.chmod(0o755)
    return folder


def run(tmp_path: Path, *features: str, uid: int = 0, sudo: bool = False) -> subprocess.CompletedProcess[str]:
    path = bin_dir(tmp_path, uid=uid, sudo=sudo)
    env = {"PATH": str(path), "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", str(SCRIPT), *features], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_root_without_chromium_installs_chromium_and_its_driver(tmp_path: Path) -> None:
    result = run(tmp_path, "browser")

    assert result.returncode == 0, result.stderr
    assert apt_calls(tmp_path) == ["update -qq", "install -y -qq chromium chromium-driver"]


def test_passwordless_sudo_installs_as_root_does(tmp_path: Path) -> None:
    result = run(tmp_path, "browser", "node", uid=1000, sudo=True)

    assert result.returncode == 0, result.stderr
    assert apt_calls(tmp_path) == ["update -qq", "install -y -qq chromium chromium-driver npm"]


def test_without_root_or_sudo_it_names_the_exact_command_in_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "browser", uid=1000)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: missing system packages: run `sudo apt-get update && sudo apt-get install -y chromium "
        "chromium-driver`, then again"
    ]
    assert apt_calls(tmp_path) == []


def test_a_configured_chromium_needs_no_package(tmp_path: Path) -> None:
    path = bin_dir(tmp_path, uid=1000, sudo=False)
    env = {"PATH": str(path), "WSPUSH_CHROMIUM": "/opt/chrome/chrome"}
    result = subprocess.run(
        ["bash", str(SCRIPT), "browser"], env=env, capture_output=True, text=True, timeout=30, check=False
    )

    assert (result.returncode, result.stderr, apt_calls(tmp_path)) == (0, "", [])


def test_the_venv_feature_is_satisfied_by_this_python(tmp_path: Path) -> None:
    result = run(tmp_path, "venv", uid=1000)

    assert (result.returncode, apt_calls(tmp_path)) == (0, [])


def test_make_test_and_make_local_set_up_through_the_script() -> None:
    makefile = (SCRIPT.parents[1] / "Makefile").read_text()

    assert "scripts/system-packages venv" in makefile  # the venv every target needs
    assert "scripts/system-packages browser" in makefile
    assert "scripts/system-packages node" in makefile
    assert os.access(SCRIPT, os.X_OK)
