"""The one harness that starts what the tests and benchmarks run against: a moto server, the local stack
in-process (`running_stack`) or as `util local up` in a child process (`start_local_up`, a `LocalUp`), all bounded
in time.

Every suite's fixtures are thin wrappers around these, so a start or stop rule (a timeout, how a child is
stopped, what "ready" means) changes in one place. Ready is an event, never a clock: the moto server answers,
the stack's state file appears (written atomically once it serves).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

STACK_START_TIMEOUT_S = 90.0
"""Generous: moto and the warm workers start on 2 cores that other suites may be using."""
STOP_TIMEOUT_S = 30.0
POLL_S = 0.05
"""How often a wait looks again for the event it waits for (a port answering, a file appearing)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout_s: float) -> None:
    """Until `url` answers at all; raises the last error after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_S)


def stop_process(process: subprocess.Popen[bytes], first: signal.Signals, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Send `first` (SIGTERM, or SIGINT as a user's Ctrl-C), wait, and kill it if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(first)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


MOTO_REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in its own process (in-process, its threads would fight the code under test for the GIL): the
    local stack's own (`util.local.aws.resources.EmbeddedMoto`), whose S3 and DynamoDB writes are atomic as AWS's
    are, but without its guard: Terraform and these tests sign with fixed keys. A stack's own moto serves only its
    credentials (`tests/integration/test_moto_security.py`)."""
    from util.local.aws.resources import EmbeddedMoto

    moto = EmbeddedMoto(None, MOTO_REGION)
    try:
        yield moto.start()
    finally:
        moto.stop()


@contextmanager
def running_stack(settings: Any, **kwargs: Any) -> Iterator[Any]:
    """The local stack in this process (`StackThread`), stopped however the block ends."""
    from util.local.stack import StackThread

    stack = StackThread(settings, **kwargs)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def wait_for_state(
    process: subprocess.Popen[bytes], state_path: Path, log_path: Path, timeout_s: float = STACK_START_TIMEOUT_S
) -> dict[str, Any]:
    """The outputs a starting `util local up` writes once it serves; raises with its log's tail if it exits
    first or stays silent past `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if state_path.exists():
            try:
                outputs: dict[str, Any] = json.loads(state_path.read_text(encoding="utf-8"))
                return outputs
            except ValueError:
                pass  # written whole (replace) today; read until it parses should that change
        if process.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"`util local up` exited with {process.returncode}: {tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"`util local up` wrote no state file within {timeout_s:g} s")
        time.sleep(POLL_S)


def local_up_process(
    command: Sequence[str],
    env: Mapping[str, str],
    log: IO[bytes],
    *,
    cwd: Path | None = None,
    stdout_too: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `util local up ...` in its own session (a Ctrl-C on the test run must not stop it behind the
    fixture's back); its stderr (and stdout, if `stdout_too`) goes to `log`."""
    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=log if stdout_too else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if stdout_too else log,
        start_new_session=True,
    )


@dataclass(frozen=True)
class LocalUp:
    """A running `util local up`: its process, state file, log, environment and the outputs it wrote."""

    process: subprocess.Popen[bytes]
    state_path: Path
    log_path: Path
    env: dict[str, str]
    outputs: dict[str, Any]
    """The state file as written: the outputs and, under `STATE_KEY`, the stack's credentials."""

    @property
    def websocket_url(self) -> str:
        return str(self.outputs["websocket_url"])

    @property
    def credentials(self) -> Any:
        """The stack's own credentials, from its state file: its `@connections` and Lambda API take no others."""
        from util.local.aws.credentials import STATE_KEY, LocalCredentials

        credentials = LocalCredentials.from_state(self.outputs.get(STATE_KEY))
        assert credentials is not None, "the state file holds no credentials"
        return credentials

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_local_up(
    command: Sequence[str],
    env: Mapping[str, str],
    work_dir: Path,
    *,
    cwd: Path | None = None,
    stdout_too: bool = False,
    timeout_s: float = STACK_START_TIMEOUT_S,
) -> LocalUp:
    """Start `command` (a `util local up`) with `env`, whose `WSPUSH_LOCAL_STATE` names the state file to wait for;
    its output goes to `work_dir/local-up.log`. Stopped (and the error raised) if it does not become ready."""
    from util.environments import LOCAL_STATE_VAR

    state_path = Path(env[LOCAL_STATE_VAR])
    log_path = work_dir / "local-up.log"
    with log_path.open("wb") as log:
        process = local_up_process(command, env, log, cwd=cwd, stdout_too=stdout_too)
    try:
        outputs = wait_for_state(process, state_path, log_path, timeout_s)
    except BaseException:
        stop_process(process, signal.SIGTERM)
        raise
    return LocalUp(process=process, state_path=state_path, log_path=log_path, env=dict(env), outputs=outputs)
