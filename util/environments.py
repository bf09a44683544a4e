"""Environments and their outputs: `local` (the local stack's state file) or a Terraform workspace.

Every command resolves its environment here and reads the one outputs mapping, whatever the
environment: the Terraform outputs and the local state file carry the same names.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import terraform
from .errors import EnvironmentResolutionError, InputError, LocalStackNotRunning, MissingOutputs

ENV_VAR = "WSPUSH_ENV"
LOCAL_ENV = "local"
LOCAL_STATE_VAR = "WSPUSH_LOCAL_STATE"
STATE_SUBPATH = Path("wspush") / "local-stack.json"
# Terraform's own rule for workspace names, applied before any name reaches a subprocess.
ENV_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,90}")

OUTPUT_NAMES = (
    "websocket_url",
    "connections_url",
    "api_id",
    "stage",
    "region",
    "lambda_function_name",
    "sns_topic_arn",
    "connections_bucket",
    "lambda_log_group",
    "api_log_group",
)
"""Outputs every environment has, in the order `util outputs` shows them."""
WEB_OUTPUT_NAMES = ("web_url",)
"""Where the browser client is served: always locally; on AWS with `web_hosting = true` (Terraform keeps no
null output, so without hosting a workspace has none of the web outputs)."""
WEB_HOSTING_OUTPUT_NAMES = ("web_bucket", "web_distribution_id")
"""AWS only, with `web_hosting = true`: where `util web-deploy` uploads the page and what it invalidates."""
LOCAL_OUTPUT_NAMES = ("aws_endpoint_url", "lambda_endpoint_url")
"""Outputs only the local stack has: its embedded moto and its own Lambda API."""


@dataclass(frozen=True)
class Outputs:
    """The outputs of one environment; `require` names the environment when one is missing."""

    env: str
    values: Mapping[str, Any]

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None or value == "" else str(value)

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise MissingOutputs(
                f"environment {self.env!r} has no output {name!r}: "
                + (
                    "restart the local stack (`util local up`)"
                    if self.env == LOCAL_ENV
                    else "run `terraform apply` in its workspace"
                )
            )
        return value


def default_env() -> str:
    """`$WSPUSH_ENV`, else `local`."""
    return os.environ.get(ENV_VAR) or LOCAL_ENV


def validate_env(env: str) -> str:
    if not ENV_NAME_PATTERN.fullmatch(env):
        raise InputError(f"invalid environment name {env!r}: use letters, digits, '-' and '_'")
    return env


def local_state_path() -> Path:
    """`$WSPUSH_LOCAL_STATE`, else `${XDG_STATE_HOME:-~/.local/state}/wspush/local-stack.json`."""
    configured = os.environ.get(LOCAL_STATE_VAR)
    if configured:
        return Path(configured).expanduser()
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / STATE_SUBPATH


def load_outputs(env: str) -> Outputs:
    """Read the outputs of `env`; raises an `EnvironmentResolutionError` saying what to do when it cannot."""
    env = validate_env(env)
    values = _local_outputs() if env == LOCAL_ENV else terraform.workspace_outputs(env)
    if not values:
        hint = (
            "restart it with `util local up`"
            if env == LOCAL_ENV
            else f"run `terraform apply` in workspace {env!r} first"
        )
        raise MissingOutputs(f"environment {env!r} has no outputs: {hint}")
    return Outputs(env=env, values=values)


def known_envs() -> list[str]:
    """`local` and the Terraform workspaces found on disk (for shell completion; never runs terraform)."""
    return [LOCAL_ENV, *(name for name in terraform.workspaces_on_disk() if name != LOCAL_ENV)]


def _local_outputs() -> dict[str, Any]:
    path = local_state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LocalStackNotRunning(
            f"the local stack is not running (no state file at {path}): start it with `util local up`"
        ) from None
    except OSError as error:
        raise EnvironmentResolutionError(f"cannot read the local state file {path}: {error.strerror}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise EnvironmentResolutionError(f"the local state file {path} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise EnvironmentResolutionError(f"the local state file {path} is not a JSON object")
    return values
