"""`util local up` as a child process, the way a user runs it: the stack gets its own interpreter (its own GIL
and its own moto), and the tests drive it from outside with real clients, as they would drive AWS."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.stack_harness import LocalUp, start_local_up, stop_process
from util.environments import LOCAL_STATE_VAR
from util.local.settings import TOKEN_VARIABLE

STACK_STOP_TIMEOUT_S = 60.0


StackProcess = LocalUp
"""The reliability suites' name for the harness's running `util local up`."""


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
def stack_process(work_dir: Path, options: Sequence[str] = (), token: str | None = None) -> Iterator[LocalUp]:
    """Run `util local up --port 0 OPTIONS` (`token` in its environment) until the state file appears; SIGTERM it
    (and wait) afterwards."""
    env = child_environment(work_dir / "local-stack.json", token)
    stack = start_local_up(up_command("--port", "0", *options), env, work_dir)
    try:
        yield stack
    finally:
        stop_process(stack.process, signal.SIGTERM, STACK_STOP_TIMEOUT_S)
