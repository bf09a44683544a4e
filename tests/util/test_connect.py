"""`util connect` as a subprocess against real WebSocket servers started by the test."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from .conftest import UTIL, StateWriter, UtilRunner, assert_one_line_error
from .servers import REJECTED_TOKEN, PingCountingServer, WebSocketServer, echo

pytestmark = pytest.mark.stack

FRAME_HEADER = re.compile(r"^\[\d\d:\d\d:\d\d\.\d{3}\]$", re.MULTILINE)
SCRIPT_TIMEOUT_S = "20"


def printed_frames(stdout: str) -> list[Any]:
    """The frames `util connect` printed: each a time header line, then the frame as pretty JSON."""
    assert FRAME_HEADER.match(stdout), stdout
    return [json.loads(body) for body in FRAME_HEADER.split(stdout)[1:]]


async def silent(server: WebSocketServer, connection: ServerConnection, index: int) -> None:
    await connection.wait_closed()


def test_connect_sends_frames_then_exits_after_listen_n(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util(
            "connect", "--url", server.url, "--send", '{"action":"whoami"}', "--send", "hello", "--listen", "2"
        )
    assert result.code == 0, result
    assert server.received == ['{"action":"whoami"}', '{"action": "broadcast", "message": "hello"}']
    assert printed_frames(result.stdout) == [
        {"echo": '{"action":"whoami"}'},
        {"echo": '{"action": "broadcast", "message": "hello"}'},
    ]


def test_connect_prints_frames_as_indented_json(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, "--send", "/whoami", "--listen", "1")
    assert result.stdout.splitlines()[1:] == ["{", '  "echo": "{\\"action\\": \\"whoami\\"}"', "}"]


def test_connect_passes_name_and_token_and_never_prints_the_token(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util(
            "connect", "--url", server.url, "--name", "Ada L", "--token", "s3cret", "--send", "/whoami", "--listen", "1"
        )
    assert result.code == 0, result
    assert server.queries == [{"name": ["Ada L"], "token": ["s3cret"]}]
    assert "s3cret" not in result.stderr + result.stdout


def test_connect_uses_the_websocket_url_of_the_environment(util: UtilRunner, write_state: StateWriter) -> None:
    with WebSocketServer(echo) as server:
        write_state({"websocket_url": server.url, "region": "us-east-1"})
        result = util("connect", "--env", "local", "--send", "/whoami", "--listen", "1")
    assert result.code == 0, result
    assert server.received == ['{"action": "whoami"}']


def test_connect_without_a_running_local_stack_is_one_line(util: UtilRunner) -> None:
    assert_one_line_error(util("connect", "--listen", "1"), "the local stack is not running")


def test_connect_timeout_without_listen_ends_the_session_normally(util: UtilRunner) -> None:
    with WebSocketServer(silent) as server:
        started = time.monotonic()
        result = util("connect", "--url", server.url, "--timeout", "0.5")
        elapsed = time.monotonic() - started
    assert result.code == 0, result
    assert 0.5 <= elapsed < 10


def test_connect_timeout_before_listen_n_is_an_error(util: UtilRunner) -> None:
    with WebSocketServer(silent) as server:
        result = util("connect", "--url", server.url, "--listen", "1", "--timeout", "0.5")
    assert_one_line_error(result, "timed out after 0.5 s: received 0 of 1 frames", code=1, after_progress=True)


def test_connect_no_reconnect_on_a_refused_connection_is_one_line(util: UtilRunner) -> None:
    from tests.conftest import free_port

    result = util("connect", "--url", f"ws://127.0.0.1:{free_port()}/live", "--no-reconnect", "--listen", "1")
    assert_one_line_error(result, "cannot connect to ws://127.0.0.1:", "refused", code=1)


def test_connect_retries_a_refused_connection_until_the_timeout(util: UtilRunner) -> None:
    from tests.conftest import free_port

    result = util("connect", "--url", f"ws://127.0.0.1:{free_port()}/live", "--listen", "1", "--timeout", "2")
    assert result.code == 1
    attempts = [line for line in result.stderr_lines if "reconnecting in" in line]
    assert len(attempts) >= 2, result.stderr  # backoff 0.5 s, then 1 s, within 2 s
    assert result.stderr_lines[-1] == "error: timed out after 2 s: received 0 of 1 frames"


async def drop_first_connection(server: WebSocketServer, connection: ServerConnection, index: int) -> None:
    await connection.send(json.dumps({"connection": index}))
    if index == 0:
        await connection.close(1012, "restarting")
    else:
        await connection.wait_closed()


async def lose_first_connection(server: WebSocketServer, connection: ServerConnection, index: int) -> None:
    await connection.send(json.dumps({"connection": index}))
    if index == 0:
        # No close frame: the network just goes away.
        assert connection.transport is not None
        connection.transport.abort()
    else:
        await connection.wait_closed()


def test_connect_reconnects_after_the_server_closes_the_connection(util: UtilRunner) -> None:
    with WebSocketServer(drop_first_connection) as server:
        result = util("connect", "--url", server.url, "--listen", "2", "--timeout", SCRIPT_TIMEOUT_S)
    assert result.code == 0, result
    assert printed_frames(result.stdout) == [{"connection": 0}, {"connection": 1}]
    assert server.connections == 2
    assert "connection closed by the server (code 1012 restarting); reconnecting in" in result.stderr


def test_connect_reconnects_after_the_connection_is_lost(util: UtilRunner) -> None:
    with WebSocketServer(lose_first_connection) as server:
        result = util("connect", "--url", server.url, "--listen", "2", "--timeout", SCRIPT_TIMEOUT_S)
    assert result.code == 0, result
    assert printed_frames(result.stdout) == [{"connection": 0}, {"connection": 1}]
    assert "connection lost" in result.stderr


def test_connect_no_reconnect_stops_when_the_server_closes(util: UtilRunner) -> None:
    with WebSocketServer(drop_first_connection) as server:
        result = util("connect", "--url", server.url, "--no-reconnect", "--listen", "2")
    assert_one_line_error(
        result, "closed by the server (code 1012 restarting) after 1 of 2 frames", code=1, after_progress=True
    )
    assert server.connections == 1


def test_connect_does_not_retry_a_rejected_handshake(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, "--token", REJECTED_TOKEN, "--listen", "1")
    assert_one_line_error(result, "refused the connection: HTTP 403", code=1)
    assert server.rejected == 1


def test_connect_retries_a_handshake_answered_with_a_server_error(util: UtilRunner) -> None:
    with WebSocketServer(echo, failing_handshakes=1) as server:
        result = util("connect", "--url", server.url, "--send", "/whoami", "--listen", "1", "--timeout", "20")
    assert result.code == 0, result
    assert "answered the handshake with HTTP 500; reconnecting in" in result.stderr
    assert printed_frames(result.stdout) == [{"echo": '{"action": "whoami"}'}]


def test_connect_no_reconnect_gives_up_on_a_server_error_at_once(util: UtilRunner) -> None:
    with WebSocketServer(echo, failing_handshakes=1) as server:
        result = util("connect", "--url", server.url, "--no-reconnect", "--listen", "1")
    assert_one_line_error(result, "answered the handshake with HTTP 500", code=1)
    assert server.connections == 0


def test_connect_turns_typed_lines_into_frames(util: UtilRunner) -> None:
    typed = '/whoami\n{"action":"join","room":"r1"}\nhello there\n/send abc= hi you\n/leave r1\n'
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, "--listen", "5", "--timeout", SCRIPT_TIMEOUT_S, stdin=typed)
    assert result.code == 0, result
    assert server.received == [
        '{"action": "whoami"}',
        '{"action":"join","room":"r1"}',
        '{"action": "broadcast", "message": "hello there"}',
        '{"action": "send", "to": "abc=", "message": "hi you"}',
        '{"action": "leave", "room": "r1"}',
    ]


def test_connect_reports_a_bad_line_and_keeps_going(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util(
            "connect",
            "--url",
            server.url,
            "--listen",
            "1",
            "--timeout",
            SCRIPT_TIMEOUT_S,
            stdin="{oops\n/nope\n/whoami\n",
        )
    assert result.code == 0, result
    assert server.received == ['{"action": "whoami"}']
    assert "not valid JSON" in result.stderr
    assert "unknown command /nope: try /help" in result.stderr


def test_connect_quit_ends_the_session(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, stdin="/whoami\n/quit\n/join never-sent\n")
    assert result.code == 0, result
    assert server.received == ['{"action": "whoami"}']


def test_connect_refuses_an_invalid_send_before_connecting(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, "--send", '{"action": ')
    assert_one_line_error(result, "--send", "not valid JSON", code=2)
    assert server.connections == 0


def test_connect_refuses_a_url_that_is_not_a_websocket_url(util: UtilRunner) -> None:
    assert_one_line_error(util("connect", "--url", "http://127.0.0.1:1/live"), "not a WebSocket URL", code=2)


def test_connect_pings_on_its_own_to_keep_the_connection_alive(util: UtilRunner) -> None:
    with PingCountingServer() as server:
        result = util(
            "connect", "--url", server.url, "--ping-interval", "0.2", "--listen", "1", "--timeout", SCRIPT_TIMEOUT_S
        )
    assert result.code == 0, result
    assert printed_frames(result.stdout) == [{"pings": 1}]


def test_connect_ping_interval_must_be_inside_the_idle_timeout(util: UtilRunner) -> None:
    assert_one_line_error(util("connect", "--url", "ws://127.0.0.1:1/", "--ping-interval", "600"), "idle", code=2)


def test_echo_server_is_real() -> None:
    """Guards the fixtures: the servers above are real sockets, not mocks."""
    with WebSocketServer(echo) as server:
        from websockets.sync.client import connect

        with connect(server.url) as client:
            client.send("ping?")
            assert client.recv(timeout=5) == '{"echo": "ping?"}'
    assert asyncio.iscoroutinefunction(echo)


def test_connect_ctrl_c_ends_the_session_cleanly(util_env: dict[str, str]) -> None:
    with WebSocketServer(echo) as server:
        process = subprocess.Popen(
            [str(UTIL), "connect", "--url", server.url, "--timeout", SCRIPT_TIMEOUT_S],
            env=util_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + float(SCRIPT_TIMEOUT_S)
        while server.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=float(SCRIPT_TIMEOUT_S))
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
