"""`util local up` as a user runs it: a foreground process, ready once it has written its state file."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.stack_harness import LocalUp, stop_process
from tests.stack_harness import start_local_up as harness_start
from tests.util.conftest import UTIL
from util.local.aws.credentials import FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY

STARTUP_TIMEOUT_S = 60.0
SHUTDOWN_TIMEOUT_S = 30.0
WORKERS = 2
"""Two warm workers: enough for a push and a client's message at once, light on a 2-core machine."""


def util_environment(state_path: Path) -> dict[str, str]:
    """What every `util` process of these tests runs with: this stack's state file, fake credentials only.

    Whatever the developer's shell says about wspush or AWS (a profile, endpoints, a default environment)
    is dropped, so nothing here can reach a real account or another stack.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WSPUSH_", "AWS_")) and key != "TF_WORKSPACE"
    }
    env.update(
        WSPUSH_LOCAL_STATE=str(state_path),
        AWS_ACCESS_KEY_ID=FAKE_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY=FAKE_SECRET_ACCESS_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        # rich lays out for 80 columns when not on a terminal, and must not colour the lines we parse.
        COLUMNS="200",
        NO_COLOR="1",
    )
    return env


def start_local_up(work_dir: Path, extra_args: tuple[str, ...] = ()) -> LocalUp:
    """Start the stack on a free port from `work_dir` (not the repository: a user runs it from anywhere);
    `extra_args` are more options of `util local up`."""
    env = util_environment(work_dir / "state" / "local-stack.json")
    command = [str(UTIL), "local", "up", "--port", "0", "--workers", str(WORKERS), *extra_args]
    try:
        return harness_start(command, env, work_dir, cwd=work_dir, stdout_too=True, timeout_s=STARTUP_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as error:
        raise AssertionError(f"`util local up` did not become ready: {error}") from error


def stop_local_up_process(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a user stops it (every connection gets its $disconnect); killed if it hangs."""
    stop_process(process, signal.SIGINT, SHUTDOWN_TIMEOUT_S)
