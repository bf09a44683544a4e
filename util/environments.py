"""Environments and their outputs: `local` (the local stack's state), `local:PORT`, or a Terraform workspace.

Every command resolves its environment here and reads the one outputs mapping, whatever the
environment: the Terraform outputs and the local state file carry the same names.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import terraform
from .console import util_command
from .errors import EnvironmentResolutionError, InputError, LocalStackNotRunning, MissingOutputs, UnknownWorkspace
from .local import state
from .local.aws.credentials import CONNECT_TOKEN_KEY, STATE_KEY, LocalCredentials

ENV_VAR = "WSPUSH_ENV"
LOCAL_ENV = "local"
LOCAL_STATE_VAR = "WSPUSH_LOCAL_STATE"
STATE_SUBPATH = Path("wspush") / "local-stack.json"
# Terraform's own rule for workspace names, applied before any name reaches a subprocess.
ENV_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,90}")
LOCAL_PORT_PATTERN = re.compile(r"local:(\d{1,5})")
"""`local:3002`: the local stack on that port (':' cannot be in a workspace name, so no clash)."""

OUTPUT_NAMES = (
    "websocket_url",
    "connections_url",
    "api_id",
    "stage",
    "region",
    "lambda_function_name",
    "sns_topic_arn",
    "connections_bucket",
    "connections_table",
    "lambda_log_group",
    "api_log_group",
    "dead_letter_queue_url",
    "auth_mode",
    "jwt_issuer",
    "jwt_audience",
    "jwks_url",
    "user_pool_id",
    "user_pool_client_id",
)
"""Outputs every environment has, in the order `util outputs` shows them (null where one does not apply)."""
STORE_OUTPUT_NAMES = ("connections_bucket", "connections_table")
"""Exactly one of these names the connection store: its S3 bucket or its DynamoDB table; the other is null."""
NULLABLE_OUTPUT_NAMES = (
    *STORE_OUTPUT_NAMES,
    "jwt_issuer",
    "jwt_audience",
    "jwks_url",
    "user_pool_id",
    "user_pool_client_id",
)
"""Null where they do not apply (the other store, auth mode not jwt, no Cognito user pool); `terraform output`
then omits them, and the local state file writes them as null."""
LOCAL_OUTPUT_NAMES = ("aws_endpoint_url", "lambda_endpoint_url", "local_issuer_key")
"""Outputs only the local stack has: its embedded moto, its own Lambda API, its issuer's private key (a path)."""
WEB_OUTPUT_NAMES = ("web_url",)
"""Where the browser client is served: always locally; on AWS with `web_hosting = true` (Terraform keeps no
null output, so without hosting a workspace has none of the web outputs)."""
WEB_HOSTING_OUTPUT_NAMES = ("web_bucket", "web_distribution_id")
"""AWS only, with `web_hosting = true`: where `util web-deploy` uploads the page and what it invalidates."""


@dataclass(frozen=True)
class Outputs:
    """The outputs of one environment; `require` names the environment when one is missing."""

    env: str
    values: Mapping[str, Any]
    credentials: LocalCredentials | None = None
    """The local stack's own credentials (from its state file, never among `values`); None elsewhere."""
    connect_token: str | None = None
    """The local stack's `--token` (from its 0600 state file), so `util connect` need not be told it."""

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return None if value is None or value == "" else str(value)

    @property
    def is_local(self) -> bool:
        return is_local_env(self.env)

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise MissingOutputs(
                f"environment {self.env!r} has no output {name!r}: "
                + (
                    f"restart the local stack (`{util_command()} local up`)"
                    if self.is_local
                    else "run `terraform apply` in its workspace"
                )
            )
        return value


def is_local_env(env: str) -> bool:
    """`local` or `local:PORT`: signed with dummy credentials, never with the user's AWS keys."""
    return env == LOCAL_ENV or LOCAL_PORT_PATTERN.fullmatch(env) is not None


def default_env() -> str:
    """`$WSPUSH_ENV`, else `local`."""
    return os.environ.get(ENV_VAR) or LOCAL_ENV


def validate_env(env: str) -> str:
    if LOCAL_PORT_PATTERN.fullmatch(env):
        return env
    if not ENV_NAME_PATTERN.fullmatch(env):
        raise InputError(
            f"invalid environment name {env!r}: use letters, digits, '-' and '_' (or local:PORT for a local stack)"
        )
    return env


def nearest_env(env: str, known: list[str]) -> str | None:
    """The known name `env` most likely mistypes (`lcoal`, `LOCAL` -> `local`), if one is close."""
    by_case = [name for name in known if name.lower() == env.lower()]
    if by_case:
        return by_case[0]
    matches = difflib.get_close_matches(env.lower(), known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def state_dir() -> Path:
    """`${XDG_STATE_HOME:-~/.local/state}/wspush`: where `util` keeps what outlives one command."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / STATE_SUBPATH.parent


def local_state_path() -> Path:
    """`$WSPUSH_LOCAL_STATE`, else `${XDG_STATE_HOME:-~/.local/state}/wspush/local-stack.json`."""
    configured = os.environ.get(LOCAL_STATE_VAR)
    if configured:
        return Path(configured).expanduser()
    return state_dir() / STATE_SUBPATH.name


def load_outputs(env: str) -> Outputs:
    """Read the outputs of `env`; raises an `EnvironmentResolutionError` saying what to do when it cannot."""
    env = validate_env(env)
    if env == LOCAL_ENV:
        values = _local_outputs()
    elif (match := LOCAL_PORT_PATTERN.fullmatch(env)) is not None:
        values = _local_port_outputs(int(match.group(1)))
    else:
        values = _workspace_outputs(env)
    credentials = LocalCredentials.from_state(values.pop(STATE_KEY, None)) if is_local_env(env) else None
    token = values.pop(CONNECT_TOKEN_KEY, None) if is_local_env(env) else None
    if not values:
        hint = (
            f"restart it with `{util_command()} local up`"
            if is_local_env(env)
            else f"run `terraform apply` in workspace {env!r} first"
        )
        raise MissingOutputs(f"environment {env!r} has no outputs: {hint}")
    return Outputs(
        env=env, values=values, credentials=credentials, connect_token=token if isinstance(token, str) else None
    )


def _workspace_outputs(env: str) -> dict[str, Any]:
    # A mistyped `local` must not reach terraform, which would offer to create it as a workspace.
    if nearest_env(env, [LOCAL_ENV]) is not None and env not in terraform.workspaces_on_disk():
        raise InputError(f"unknown environment {env!r}: did you mean {LOCAL_ENV!r}?")
    try:
        return terraform.workspace_outputs(env)
    except UnknownWorkspace as error:
        suggestion = nearest_env(env, terraform.workspaces_on_disk())
        if suggestion is not None:
            raise UnknownWorkspace(f"no Terraform workspace {env!r}: did you mean {suggestion!r}?") from error
        raise


def known_envs() -> list[str]:
    """`local` and the Terraform workspaces found on disk (for shell completion; never runs terraform)."""
    return [LOCAL_ENV, *(name for name in terraform.workspaces_on_disk() if name != LOCAL_ENV)]


def _local_outputs() -> dict[str, Any]:
    path = local_state_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        others = [record for record in state.list_records(path) if state.liveness(record) is state.Liveness.RUNNING]
        elsewhere = "".join(f"; one runs on port {record.port}: use `-e local:{record.port}`" for record in others[:1])
        raise LocalStackNotRunning(
            f"the local stack is not running (no state file at {path}): start it with "
            f"`{util_command()} local up`{elsewhere}"
        ) from None
    except OSError as error:
        raise EnvironmentResolutionError(f"cannot read the local state file {path}: {error.strerror}") from None
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise EnvironmentResolutionError(f"the local state file {path} is not valid JSON: {error}") from None
    if not isinstance(values, dict):
        raise EnvironmentResolutionError(f"the local state file {path} is not a JSON object")
    record = state.record_of(path, values)
    if record is not None:
        _require_running(record, path)
    elif not state.outputs_answer(values):
        raise LocalStackNotRunning(
            f"the local stack recorded in {path} is gone (its endpoints do not answer): "
            f"start it again with `{util_command()} local up`"
        )
    return values


def _local_port_outputs(port: int) -> dict[str, Any]:
    current = local_state_path()
    path = state.record_path(current, port)
    record = state.read_record(path)
    if record is None:
        raise LocalStackNotRunning(
            f"no local stack on port {port} (no record at {path}): `{util_command()} local status` lists them"
        )
    _require_running(record, path)
    return record.outputs


def _require_running(record: state.StackRecord, path: Path) -> None:
    alive = state.liveness(record)
    if alive is not state.Liveness.RUNNING:
        raise LocalStackNotRunning(
            f"the local stack recorded in {path} (port {record.port}, pid {record.pid}) is gone ({alive.value}): "
            f"start it again with `{util_command()} local up --port {record.port}`"
        )
