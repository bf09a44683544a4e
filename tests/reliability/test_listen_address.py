"""The local stack listens on loopback unless `--host` says otherwise, and then warns that it is exposed.

No test here binds anything but loopback: the exposed case uses an address this machine does not have
(TEST-NET-1, RFC 5737), so the warning is printed and the bind then fails with one clean error line.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from util.local.settings import DEFAULT_HOST, StackSettings

from .stack_process import StackProcess, child_environment, up_command

pytestmark = pytest.mark.timeout(120)

UNASSIGNED_ADDRESS = "192.0.2.1"
"""TEST-NET-1: documentation only, never assigned to a machine, so binding it fails."""
OTHER_LOOPBACK = "127.0.0.2"
"""Loopback too, but not the address the stack binds by default: a wildcard bind would answer here."""
EXIT_TIMEOUT_S = 60.0
WARNING = "warning: listening on"


def accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) == 0


def test_by_default_the_stack_listens_on_127_0_0_1_only(stack: StackProcess) -> None:
    url = urlsplit(stack.websocket_url)
    assert url.hostname == DEFAULT_HOST == "127.0.0.1"
    assert url.port is not None
    assert accepts("127.0.0.1", url.port)
    assert not accepts(OTHER_LOOPBACK, url.port)
    assert WARNING not in stack.log()


def test_a_host_other_than_loopback_is_warned_about_before_listening(tmp_path: Path) -> None:
    finished = subprocess.run(
        up_command("--host", UNASSIGNED_ADDRESS, "--port", "0"),
        env=child_environment(tmp_path / "state.json"),
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT_S,
        check=False,
    )

    lines = finished.stderr.splitlines()
    assert lines[0] == (
        f"{WARNING} {UNASSIGNED_ADDRESS}: anyone who reaches this machine can connect to the WebSocket "
        "endpoint (@connections and the Lambda API still require the stack's credentials)"
    )
    assert lines[-1].startswith(f"error: cannot listen on {UNASSIGNED_ADDRESS}:0: ")
    assert finished.returncode != 0
    assert "Traceback" not in finished.stderr
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True), ("0.0.0.0", False), ("::", False)],
)
def test_only_loopback_hosts_count_as_unexposed(host: str, loopback: bool) -> None:
    assert StackSettings(host=host).is_loopback is loopback
