"""`util connect` against real WebSocket servers started by the test (in-process; signals in a subprocess)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection

from .conftest import UTIL, StateWriter, UtilRunner, assert_one_line_error
from .servers import REJECTED_TOKEN, PingCountingServer, WebSocketServer, echo

SCRIPT_TIMEOUT_S = "20"


def printed_frames(stdout: str) -> list[Any]:
    """The frames `util connect` printed off a terminal (compact by default): one JSON frame per line."""
    return [json.loads(line) for line in stdout.splitlines()]


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


async def various(server: WebSocketServer, connection: ServerConnection, index: int) -> None:
    await connection.send('{"type": "message",\n "message": {"n": 1}}')
    await connection.send("plain text")
    await connection.send(b"\x00\x01")
    await connection.wait_closed()


def test_connect_compact_output_is_one_line_per_frame_and_nothing_else(util: UtilRunner) -> None:
    with WebSocketServer(various) as server:
        result = util("connect", "--url", server.url, "--listen", "3", "--output", "compact")
    assert result.code == 0, result
    assert result.stdout.splitlines() == [
        '{"type":"message","message":{"n":1}}',
        "plain text",
        "<binary frame, 2 bytes>",
    ]


def test_connect_is_compact_by_default_when_stdout_is_not_a_terminal(util: UtilRunner) -> None:
    with WebSocketServer(various) as server:
        result = util("connect", "--url", server.url, "--listen", "1")
    assert result.stdout == '{"type":"message","message":{"n":1}}\n'


def test_connect_json_output_is_json_lines_with_the_time(util: UtilRunner) -> None:
    with WebSocketServer(various) as server:
        result = util("connect", "--url", server.url, "--listen", "3", "-o", "json")
    assert result.code == 0, result
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [{key: value for key, value in record.items() if key != "time"} for record in records] == [
        {"frame": {"type": "message", "message": {"n": 1}}},
        {"text": "plain text"},
        {"binary_bytes": 2},
    ]
    for record in records:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", record["time"]), record


def test_connect_pretty_output_marks_direction_and_time(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, "--send", "/whoami", "--listen", "1", "--output", "pretty")
    assert result.code == 0, result
    sent, received = result.stdout.splitlines()
    assert re.fullmatch(r'> \d\d:\d\d:\d\d\.\d{3} \{"action": "whoami"\}', sent), sent
    assert re.fullmatch(r'< \d\d:\d\d:\d\d\.\d{3} \{"echo": "\{\\"action\\": \\"whoami\\"\}"\}', received), received


def test_connect_pretty_output_indents_a_frame_wider_than_the_terminal(
    util: UtilRunner, util_env: dict[str, str]
) -> None:
    util_env["COLUMNS"] = "40"
    long_text = "x" * 60
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, "--send", long_text, "--listen", "1", "-o", "pretty")
    lines = result.stdout.splitlines()
    received = next(index for index, line in enumerate(lines) if line.startswith("<"))
    assert re.fullmatch(r"< \d\d:\d\d:\d\d\.\d{3}", lines[received]), lines
    assert json.loads("\n".join(lines[received + 1 :])) == {
        "echo": json.dumps({"action": "broadcast", "message": long_text})
    }


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


def test_connect_fails_fast_when_the_first_connection_fails_even_with_reconnect(util: UtilRunner) -> None:
    from tests.conftest import free_port

    # No --timeout: a client that retried a connection that never worked would hang here (pytest-timeout).
    result = util("connect", "--url", f"ws://127.0.0.1:{free_port()}/live", "--send", "x")
    assert_one_line_error(result, "cannot connect to ws://127.0.0.1:", "refused", code=1)
    assert "reconnecting" not in result.stderr


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


def test_connect_does_not_retry_a_rejected_handshake_and_says_why(util: UtilRunner) -> None:
    with WebSocketServer(echo) as server:
        result = util("connect", "--url", server.url, "--token", REJECTED_TOKEN, "--listen", "1")
    assert_one_line_error(result, "refused the connection: HTTP 401: a valid token is required", code=1)
    assert REJECTED_TOKEN not in result.stderr.replace("token=***", "")
    assert server.rejected == 1


def test_connect_retries_a_handshake_answered_with_a_server_error_after_a_working_connection(
    util: UtilRunner,
) -> None:
    with WebSocketServer(drop_first_connection, failing_handshakes=1, fail_after=1) as server:
        result = util("connect", "--url", server.url, "--listen", "2", "--timeout", SCRIPT_TIMEOUT_S)
    assert result.code == 0, result
    assert "answered the handshake with HTTP 500: Internal server error; reconnecting in" in result.stderr
    assert printed_frames(result.stdout) == [{"connection": 0}, {"connection": 1}]


def test_connect_gives_up_on_a_first_handshake_answered_with_a_server_error(util: UtilRunner) -> None:
    with WebSocketServer(echo, failing_handshakes=1) as server:
        result = util("connect", "--url", server.url, "--listen", "1")
    assert_one_line_error(result, "answered the handshake with HTTP 500: Internal server error", code=1)
    assert server.connections == 0


async def drop_after_two_frames(server: WebSocketServer, connection: ServerConnection, index: int) -> None:
    """Echoes frames; the first connection is closed by the server after its second frame, later ones say hello."""
    if index > 0:
        await connection.send(json.dumps({"connection": index, "hello": True}))
    count = 0
    async for message in connection:
        server.received.append(message)
        await connection.send(json.dumps({"connection": index, "got": message}))
        count += 1
        if index == 0 and count == 2:
            await connection.close(1012, "restarting")


def test_connect_rejoins_its_rooms_after_a_reconnect_and_says_so(util: UtilRunner) -> None:
    typed = "/join r1\n/join r2\n"
    with WebSocketServer(drop_after_two_frames) as server:
        result = util("connect", "--url", server.url, "--listen", "5", "--timeout", SCRIPT_TIMEOUT_S, stdin=typed)
    assert result.code == 0, result
    joins = [json.dumps({"action": "join", "room": room}) for room in ("r1", "r2")]
    assert server.received == joins + joins
    assert [frame["connection"] for frame in printed_frames(result.stdout)] == [0, 0, 1, 1, 1]
    assert "reconnected with a new connection id: joined r1, r2 again" in result.stderr


def test_connect_does_not_rejoin_a_room_it_left(util: UtilRunner) -> None:
    typed = "/join r1\n/leave r1\n"
    with WebSocketServer(drop_after_two_frames) as server:
        result = util("connect", "--url", server.url, "--listen", "3", "--timeout", SCRIPT_TIMEOUT_S, stdin=typed)
    assert result.code == 0, result
    assert printed_frames(result.stdout)[-1] == {"connection": 1, "hello": True}
    assert "reconnected with a new connection id" in result.stderr
    assert server.received == [
        json.dumps({"action": "join", "room": "r1"}),
        json.dumps({"action": "leave", "room": "r1"}),
    ]


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


@pytest.mark.stack  # a signal to a real process
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


@pytest.mark.stack  # a real process on a pseudo-terminal
def test_connect_on_a_terminal_has_line_editing_and_history(util_env: dict[str, str], tmp_path: Path) -> None:
    """The Up arrow recalls the last line (no escape sequence is sent), and the line is sent again."""
    import os
    import pty

    with WebSocketServer(echo) as server:
        primary, secondary = pty.openpty()
        env = {**util_env, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm", "COLUMNS": "100"}
        process = subprocess.Popen(
            [str(UTIL), "connect", "--url", server.url, "--timeout", SCRIPT_TIMEOUT_S],
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            env=env,
            close_fds=True,
        )
        os.close(secondary)
        try:
            deadline = time.monotonic() + float(SCRIPT_TIMEOUT_S)
            while server.connections == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.write(primary, b"hello\r")
            while len(server.received) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.write(primary, b"\x1b[A\r")  # Up, Enter
            while len(server.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            os.write(primary, b"\x04")  # Ctrl-D at the prompt ends the session
            process.wait(timeout=float(SCRIPT_TIMEOUT_S))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            os.close(primary)
    broadcast = json.dumps({"action": "broadcast", "message": "hello"})
    assert server.received == [broadcast, broadcast]
    assert process.returncode == 0
    history = (tmp_path / "state" / "wspush" / "connect-history").read_text()
    assert "hello" in history
    assert oct((tmp_path / "state" / "wspush" / "connect-history").stat().st_mode & 0o777) == "0o600"


@pytest.mark.stack  # a real pipe between two processes
def test_connect_json_output_pipes_into_python_json_tool(util_env: dict[str, str]) -> None:
    """`util connect --listen 1 --output json | python -m json.tool`, as a shell runs it."""
    import sys

    with WebSocketServer(echo) as server:
        connect = subprocess.Popen(
            [str(UTIL), "connect", "--url", server.url, "--send", "/whoami", "--listen", "1", "--output", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=util_env,
        )
        assert connect.stdout is not None
        tool = subprocess.run(
            [sys.executable, "-m", "json.tool"],
            stdin=connect.stdout,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        connect.stdout.close()
        assert connect.wait(timeout=30) == 0
    assert tool.returncode == 0, tool.stderr
    assert json.loads(tool.stdout)["frame"] == {"echo": '{"action": "whoami"}'}
