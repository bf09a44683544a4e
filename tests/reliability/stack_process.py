"""`util local up` as a child process, the way a user runs it: the stack gets its own interpreter (its own GIL
and its own moto), and the tests drive it from outside with real clients, as they would drive AWS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.stack_harness import local_up_process, stop_process, wait_for_state
from util.environments import LOCAL_STATE_VAR
from util.local.aws.credentials import STATE_KEY, LocalCredentials
from util.local.settings import TOKEN_VARIABLE

STACK_STOP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class StackProcess:
    process: subprocess.Popen[bytes]
    outputs: dict[str, Any]
    """The state file as written: the outputs and, under `STATE_KEY`, the credentials."""
    stderr_path: Path

    @property
    def websocket_url(self) -> str:
        return str(self.outputs["websocket_url"])

    @property
    def credentials(self) -> LocalCredentials:
        """The stack's own credentials, from its state file: its `@connections` and Lambda API take no others."""
        credentials = LocalCredentials.from_state(self.outputs.get(STATE_KEY))
        assert credentials is not None, "the state file holds no credentials"
        return credentials

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


def up_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "util.local", "up", *options]


def child_environment(state_path: Path, token: str | None = None) -> dict[str, str]:
    """The environment of `util local up`: this state file, and `token` where a user keeps it out of `ps`."""
    env = {**os.environ, LOCAL_STATE_VAR: str(state_path)}
    env.pop("WSPUSH_ENV", None)
    env.pop(TOKEN_VARIABLE, None)
    if token is not None:
        env[TOKEN_VARIABLE] = token
    return env


@contextmanager
def stack_process(work_dir: Path, options: Sequence[str] = (), token: str | None = None) -> Iterator[StackProcess]:
    """Run `util local up --port 0 OPTIONS` (`token` in its environment) until the state file appears; SIGTERM it
    (and wait) afterwards."""
    state_path = work_dir / "local-stack.json"
    stderr_path = work_dir / "stack.stderr"
    with stderr_path.open("wb") as stderr:
        process = local_up_process(up_command("--port", "0", *options), child_environment(state_path, token), stderr)
    try:
        outputs = wait_for_state(process, state_path, stderr_path)
        yield StackProcess(process, outputs, stderr_path)
    finally:
        stop_process(process, signal.SIGTERM, STACK_STOP_TIMEOUT_S)
