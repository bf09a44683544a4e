"""The one door to Terraform: python-terraform, with its quirks under Terraform 1.x wrapped here.

Quirks of python-terraform 0.10.1 handled in this module and nowhere else:
- `output("name")` raises TypeError: outputs are always read whole (`terraform output -json`, through
  `output_cmd`, which unlike `output()` keeps stderr for the error message), then picked.
- `set_workspace` runs `terraform workspace select`, which persistently switches the user's
  workspace in `.terraform/environment` (a later `terraform apply` would hit it). We select the
  workspace for one command only, through `TF_WORKSPACE`, after checking that it exists: with
  `TF_WORKSPACE` set to an unknown name, `terraform output` silently creates that workspace.
- A failed command only logs a warning and returns None (or emits a DeprecationWarning from the
  package): every call here checks the exit code and turns stderr into one line.
- `destroy()` passes the removed `-force` flag: not offered here.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, Terraform

from .errors import TerraformError, UnknownWorkspace

DEPLOYMENT_DIR_ENV = "WSPUSH_DEPLOYMENT_DIR"
DEPLOYMENT_DIR_NAME = "deployment"
TERRAFORM_BINARY = "terraform"
WORKSPACE_ENV = "TF_WORKSPACE"
STATE_DIR_NAME = "terraform.tfstate.d"
"""Where the local backend keeps non-default workspaces; read only to offer shell completions."""


def deployment_dir() -> Path:
    """`$WSPUSH_DEPLOYMENT_DIR`, else `deployment/` of the repository this package lives in, else `./deployment`."""
    configured = os.environ.get(DEPLOYMENT_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    # The package is installed editable: its parent directory is the repository.
    in_repo = Path(__file__).resolve().parent.parent / DEPLOYMENT_DIR_NAME
    if in_repo.is_dir():
        return in_repo
    return Path.cwd() / DEPLOYMENT_DIR_NAME


def workspace_outputs(workspace: str, directory: Path | None = None) -> dict[str, Any]:
    """The values of every output of `workspace` (`{}` when nothing was applied there)."""
    directory = deployment_dir() if directory is None else directory
    terraform = _terraform(directory)
    known = list_workspaces(directory)
    if workspace not in known:
        raise UnknownWorkspace(
            f"no Terraform workspace {workspace!r} in {directory} (known: {', '.join(known)}); "
            f"create it with `terraform workspace new {workspace}` and apply"
        )
    with _selected(workspace), _quiet():
        code, out, err = terraform.output_cmd(json=IsFlagged)
    if code != 0:
        raise TerraformError(f"terraform output failed in workspace {workspace!r}: {first_error_line(err)}")
    raw = _parse_json(out, what=f"terraform output of workspace {workspace!r}")
    if not isinstance(raw, Mapping):
        raise TerraformError(f"terraform output of workspace {workspace!r} is not a JSON object")
    # Each output is {"value": ..., "type": ..., "sensitive": ...}: callers want the values.
    return {name: entry.get("value") for name, entry in raw.items() if isinstance(entry, Mapping)}


def list_workspaces(directory: Path | None = None) -> list[str]:
    """Names of the workspaces Terraform knows in `directory`."""
    directory = deployment_dir() if directory is None else directory
    terraform = _terraform(directory)
    # An inherited TF_WORKSPACE would only move the `*` marker; unset it so the list is the plain truth.
    with _selected(None), _quiet():
        code, out, err = terraform.cmd("workspace", "list")
    if code != 0:
        raise TerraformError(f"terraform workspace list failed in {directory}: {first_error_line(err)}")
    return [line.strip().lstrip("*").strip() for line in out.splitlines() if line.strip()]


def workspaces_on_disk(directory: Path | None = None) -> list[str]:
    """Workspaces of the local backend, from the directory layout alone: cheap enough for completion."""
    directory = deployment_dir() if directory is None else directory
    state_dir = directory / STATE_DIR_NAME
    if not state_dir.is_dir():
        return []
    return sorted(entry.name for entry in state_dir.iterdir() if entry.is_dir())


def first_error_line(stderr: str | None) -> str:
    """The line that says what failed in Terraform's boxed diagnostics (warnings skipped)."""
    lines = [line.strip(" \t│╷╵") for line in (stderr or "").splitlines()]
    lines = [line for line in lines if line]
    for index, line in enumerate(lines):
        if line.startswith("Error:"):
            detail = line.removeprefix("Error:").strip()
            # Terraform's summary line is often generic; the first line after it says why.
            following = lines[index + 1] if index + 1 < len(lines) else ""
            return f"{detail}: {following}" if following and not following.startswith("Error:") else detail
    return lines[-1] if lines else "no error message"


def _terraform(directory: Path) -> Terraform:
    if shutil.which(TERRAFORM_BINARY) is None:
        raise TerraformError(
            f"`{TERRAFORM_BINARY}` is not on PATH: install Terraform to use a workspace, or use --env local"
        )
    if not directory.is_dir():
        raise TerraformError(f"no Terraform directory at {directory}: set {DEPLOYMENT_DIR_ENV}")
    return Terraform(working_dir=str(directory))


@contextmanager
def _selected(workspace: str | None) -> Iterator[None]:
    """Run the enclosed Terraform commands in `workspace` (None: the directory's own selection).

    python-terraform passes a copy of os.environ to each command; the CLI is single-threaded, so
    setting it for the duration of one call is safe.
    """
    previous = os.environ.get(WORKSPACE_ENV)
    if workspace is None:
        os.environ.pop(WORKSPACE_ENV, None)
    else:
        os.environ[WORKSPACE_ENV] = workspace
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(WORKSPACE_ENV, None)
        else:
            os.environ[WORKSPACE_ENV] = previous


@contextmanager
def _quiet() -> Iterator[None]:
    """python-terraform warns through deprecated APIs on every failure; the failure is reported by us."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _parse_json(text: str | None, what: str) -> Any:
    try:
        return json.loads(text or "")
    except json.JSONDecodeError as error:
        raise TerraformError(f"{what} is not JSON: {error}") from None
