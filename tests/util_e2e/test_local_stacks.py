"""`util local up/status/down` with two stacks at once, detached, and a stack killed without cleaning up.

Each test starts its own stacks as a user does (`util local up --detach`), in its own state directory.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.util.conftest import Result, assert_one_line_error, run_util
from util.local.settings import TOKEN_VARIABLE

from .local_up import util_environment

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

START_TIMEOUT_S = 150.0


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`util`'s environment with a fresh state directory; every stack recorded there is stopped afterwards."""
    environment = util_environment(tmp_path / "state" / "local-stack.json")
    yield environment
    records = tmp_path / "state" / "local-stack.d"
    for path in records.glob("*.json") if records.is_dir() else []:
        pid = json.loads(path.read_text())["pid"]
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)


def util(env: dict[str, str], *args: str, timeout_s: float = 30.0) -> Result:
    return run_util(list(args), env, timeout_s=timeout_s)


def up_detached(env: dict[str, str], *args: str) -> tuple[int, str]:
    """`util local up --detach --port 0 ARGS`: the pid and WebSocket URL it printed."""
    result = util(env, "local", "up", "--detach", "--port", "0", "--workers", "1", *args, timeout_s=START_TIMEOUT_S)
    assert result.code == 0, result
    first = result.stdout.splitlines()[0]
    assert first.startswith("the local stack runs in the background: pid "), result.stdout
    pid_text, url = first.removeprefix("the local stack runs in the background: pid ").split(", ")
    log = result.stdout.splitlines()[1].removeprefix("log: ")
    assert Path(log).is_file(), result.stdout
    return int(pid_text), url


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/", maxsplit=1)[0])


def whoami(env: dict[str, str], *args: str) -> dict[str, str]:
    result = util(env, "connect", *args, "--send", "/whoami", "--listen", "1", "--output", "json", "--timeout", "20")
    assert result.code == 0, result
    record = json.loads(result.stdout)
    assert record["frame"]["type"] == "whoami", record
    return dict(record["frame"])


def test_a_second_stack_leaves_the_first_ones_commands_working_and_down_stops_each(env: dict[str, str]) -> None:
    first_pid, first_url = up_detached(env)
    state_file = Path(env["WSPUSH_LOCAL_STATE"])
    assert json.loads(state_file.read_text())["websocket_url"] == first_url

    second_pid, second_url = up_detached(env)

    # The current file still names the first stack: `--env local` goes there, `local:PORT` to the second.
    assert json.loads(state_file.read_text())["websocket_url"] == first_url
    whoami(env, "-e", "local")
    whoami(env, "-e", f"local:{port_of(second_url)}")
    status = util(env, "local", "status")
    assert status.code == 0, status
    lines = status.stdout.splitlines()
    assert len(lines) == 2, status.stdout
    first_line = next(line for line in lines if f"pid {first_pid} " in line)
    second_line = next(line for line in lines if f"pid {second_pid} " in line)
    assert "running" in first_line and "current (--env local)" in first_line, first_line
    assert "running" in second_line and f"--env local:{port_of(second_url)}" in second_line, second_line

    # Stopping the second leaves the first's state file and its commands alone.
    stopped = util(env, "local", "down", "--port", str(port_of(second_url)), timeout_s=90)
    assert stopped.stdout.strip() == f"stopped the local stack on port {port_of(second_url)} (pid {second_pid})"
    assert json.loads(state_file.read_text())["websocket_url"] == first_url
    whoami(env)

    stopped = util(env, "local", "down", timeout_s=90)
    assert stopped.code == 0, stopped
    assert not state_file.exists()
    assert util(env, "local", "status").stdout.startswith("no local stack")


def test_up_on_a_port_a_live_stack_holds_is_refused_in_one_line(env: dict[str, str]) -> None:
    pid, url = up_detached(env)
    result = util(env, "local", "up", "--port", str(port_of(url)))
    assert_one_line_error(result, f"already runs on port {port_of(url)} (pid {pid})", "local down", code=2)


def test_a_killed_stack_is_reported_as_stale_and_down_clears_it(env: dict[str, str]) -> None:
    pid, url = up_detached(env)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)

    status = util(env, "local", "status")
    assert "stale: its process is gone" in status.stdout, status.stdout
    for command in (["send-data", "{}"], ["connect", "--listen", "1"], ["tail-logs", "--no-follow"]):
        result = util(env, *command)
        # Not moto's random port: the recorded stack, and how to start it again.
        assert_one_line_error(result, f"port {port_of(url)}, pid {pid}) is gone", "local up", code=1)
        assert "cannot reach" not in result.stderr

    cleared = util(env, "local", "down")
    assert "was not running" in cleared.stdout and "removed its state" in cleared.stdout, cleared
    assert not Path(env["WSPUSH_LOCAL_STATE"]).exists()


def test_the_banner_commands_work_as_printed_and_never_show_the_token(env: dict[str, str], tmp_path: Path) -> None:
    up_detached(env, "--token", "t0ken")
    logs = list((tmp_path / "state" / "local-stack.d").glob("up-*.log"))
    banner = logs[0].read_text()
    connect_line = next(line for line in banner.splitlines() if line.strip().startswith("connect "))
    # The printed command, run as printed from where `up` ran (here): `util connect` takes the token from the
    # stack's 0600 state file, so the banner (scrollback, CI logs) never holds it.
    assert "t0ken" not in banner
    command = shlex.split(connect_line.strip().removeprefix("connect").strip())
    assert command[1:] == ["connect", "-e", "local"], connect_line
    completed = subprocess.run(
        [*command, "--send", "/whoami", "--listen", "1", "--timeout", "20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["type"] == "whoami"


def every_command_line() -> dict[int, bytes]:
    """`/proc/PID/cmdline` of every process on this machine (what `ps` shows any local user), by pid."""
    lines = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines[int(entry.name)] = (entry / "cmdline").read_bytes()
            except OSError:  # it exited meanwhile
                continue
    return lines


@pytest.mark.parametrize("way", ["--token", "--token-file", TOKEN_VARIABLE])
def test_a_detached_stacks_token_is_in_no_processs_command_line(env: dict[str, str], tmp_path: Path, way: str) -> None:
    token = f"argv-probe-{uuid.uuid4().hex}"
    up_env, args = dict(env), ["--token", token]
    if way == "--token-file":
        path = tmp_path / "token"
        path.write_text(token + "\n", encoding="utf-8")
        path.chmod(0o600)
        args = ["--token-file", str(path)]
    elif way == TOKEN_VARIABLE:
        up_env[TOKEN_VARIABLE] = token
        args = []
    pid, _ = up_detached(up_env, *args)

    # The whole stack runs now: the detached `up`, its moto and its Lambda workers.
    lines = every_command_line()
    assert b"util.local\0up\0" in lines[pid], lines[pid]
    assert [other for other, line in lines.items() if token.encode() in line] == []
    # ... and it has the token: `util connect -e local` sends the one in its state file, a wrong one is refused.
    assert whoami(env)["type"] == "whoami"
    refused = util(env, "connect", "-e", "local", "--token", "not-the-token", "--listen", "1", "--no-reconnect")
    assert refused.code != 0 and "401" in refused.stderr, refused
