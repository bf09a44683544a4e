"""Starting and stopping the stack: the state file, and nothing left behind (process, thread, port)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from util.environments import LOCAL_STATE_VAR
from util.local.aws.credentials import STATE_KEY
from util.local.stack import StackThread

from .conftest import REPO_ROOT, stack_settings

pytestmark = pytest.mark.timeout(120)

STARTUP_TIMEOUT_S = 60.0


def port_is_open(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) == 0


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_in_process_stack_stops_leaving_no_thread_process_or_port(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    threads_before = set(threading.enumerate())
    stack = StackThread(stack_settings(state_path=state, workers=2))
    outputs = stack.start()
    # The state file holds the outputs (null where one does not apply) and, under its own key, the credentials.
    written = json.loads(state.read_text())
    assert written.pop(STATE_KEY) == stack.credentials.to_state()
    assert {k: v for k, v in written.items() if v is not None} == outputs
    assert stack.stack is not None
    workers = stack.stack.worker_pids()
    assert len(workers) == 2 and all(pid_alive(pid) for pid in workers)
    assert port_is_open(outputs["websocket_url"]) and port_is_open(outputs["aws_endpoint_url"])

    stack.stop()

    assert not state.exists()
    assert not any(pid_alive(pid) for pid in workers)
    assert not port_is_open(outputs["websocket_url"])
    assert not port_is_open(outputs["aws_endpoint_url"])
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)  # werkzeug's per-request threads end just after their response
    assert set(threading.enumerate()) - threads_before == set()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_util_local_up_runs_as_a_process_and_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    state = tmp_path / "state.json"
    env = {**os.environ, LOCAL_STATE_VAR: str(state)}
    process = subprocess.Popen(
        [sys.executable, "-m", "util.local", "up", "--port", "0", "--workers", "2"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not state.exists():
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "the stack did not write its state file"
            time.sleep(0.1)
        outputs = json.loads(state.read_text())
        workers = children_of(process.pid)
        assert len(workers) >= 2
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert outputs["websocket_url"] in output
    assert "Next:" in output
    assert output.rstrip().endswith("stopped.")
    assert not state.exists()
    assert not any(pid_alive(pid) for pid in workers)
    assert not port_is_open(outputs["websocket_url"])
    assert not port_is_open(outputs["aws_endpoint_url"])


def test_a_port_in_use_is_one_clear_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "util.local", "up", "--port", str(port)],
            cwd=REPO_ROOT,
            env={**os.environ, LOCAL_STATE_VAR: str(tmp_path / "state.json")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; pass another --port"
    ]
    assert "Traceback" not in result.stdout + result.stderr
