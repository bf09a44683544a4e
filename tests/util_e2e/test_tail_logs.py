"""`util tail-logs --no-follow` shows what the running stack's handler and API logged for a push."""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.stack_harness import LocalUp
from tests.util.conftest import run_util

from .conftest import UtilRunner
from .connect_client import CLIENT_TIMEOUT_S, ConnectClient

pytestmark = pytest.mark.timeout(120)

LOGS_TIMEOUT_S = 15.0
"""The stack ships log lines every 0.2 s; a line not in CloudWatch (moto) by then is missing."""
POLL_INTERVAL_S = 0.3
SINCE = "5m"
EVENT_START = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \S")


@dataclass(frozen=True)
class LogLine:
    """One line of `util tail-logs`: time, source, then level and message (JSON lines) and key=value fields."""

    timestamp: str
    source: str
    words: tuple[str, ...]
    fields: dict[str, str]

    @classmethod
    def parse(cls, line: str) -> LogLine:
        timestamp, source, rest = line.split(None, 2)
        try:
            # Values with spaces are printed JSON-quoted; shell quoting reads those the same.
            tokens = shlex.split(rest)
        except ValueError:
            tokens = rest.split()  # a plain text line with a lone quote: its words are enough
        words = tuple(token for token in tokens if "=" not in token)
        fields = dict(token.split("=", 1) for token in tokens if "=" in token)
        return cls(timestamp, source, words, fields)


def parse_output(stdout: str) -> list[LogLine]:
    """Every event's first line; the indented lines of a traceback under an event are skipped."""
    return [LogLine.parse(line) for line in stdout.splitlines() if EVENT_START.match(line)]


@dataclass(frozen=True)
class Pushed:
    message_id: str
    connection_id: str


def tail_until(util: UtilRunner, *args: str, until: Callable[[list[LogLine]], bool]) -> list[LogLine]:
    """`util tail-logs --no-follow --since 5m ARGS...`, repeated until `until` holds for its lines."""
    deadline = time.monotonic() + LOGS_TIMEOUT_S
    while True:
        result = util("tail-logs", "--no-follow", "--since", SINCE, "--format", "detailed", *args)
        assert result.code == 0, result
        assert result.stderr == "", result.stderr
        lines = parse_output(result.stdout)
        if until(lines):
            return lines
        assert time.monotonic() < deadline, f"the logs never showed it:\n{result.stdout}"
        time.sleep(POLL_INTERVAL_S)


@pytest.fixture(scope="module")
def pushed(local_up: LocalUp) -> Pushed:
    """One client that asked whoami, then got one push from `util send-data`, then left."""
    client = ConnectClient(local_up.env, ("--send", "/whoami", "--listen", "2", "--timeout", str(CLIENT_TIMEOUT_S)))
    try:
        client.wait_connected()
        connection_id = client.next_json_frame()["connectionId"]
        sent = run_util(["send-data", '{"for": "the logs"}'], local_up.env)
        assert sent.code == 0, sent
        finished = client.finish()
        assert finished.code == 0, finished
    finally:
        client.close()
    return Pushed(message_id=sent.stdout.strip(), connection_id=connection_id)


def push_and_fanout(lines: list[LogLine], message_id: str) -> tuple[LogLine, LogLine] | None:
    """The handler's `push` line for `message_id` and the `fanout` summary of the same invocation, once both are in."""
    push = next((line for line in lines if line.fields.get("snsMessageId") == message_id), None)
    if push is None:
        return None
    fanout = [
        line
        for line in lines
        if line.words == ("INFO", "fanout") and line.fields.get("requestId") == push.fields.get("requestId")
    ]
    assert len(fanout) <= 1, fanout
    return (push, fanout[0]) if fanout else None


def test_tail_logs_shows_the_handlers_push_line_with_the_message_id_send_data_printed(
    util: UtilRunner, pushed: Pushed
) -> None:
    lines = tail_until(util, until=lambda lines: push_and_fanout(lines, pushed.message_id) is not None)

    found = push_and_fanout(lines, pushed.message_id)
    assert found is not None
    push, fanout = found
    assert (push.source, push.words) == ("lambda", ("INFO", "push"))
    # The same invocation's summary: the push reached its one recipient.
    assert {key: fanout.fields[key] for key in ("recipients", "delivered", "gone", "failed")} == {
        "recipients": "1",
        "delivered": "1",
        "gone": "0",
        "failed": "0",
    }
    assert {line.source for line in lines} == {"lambda", "api"}
    assert [line.timestamp for line in lines] == sorted(line.timestamp for line in lines)


def test_tail_logs_source_api_shows_the_access_log_lines_of_the_connection(util: UtilRunner, pushed: Pushed) -> None:
    def of_connection(lines: list[LogLine]) -> list[LogLine]:
        return [line for line in lines if line.fields.get("connectionId") == pushed.connection_id]

    lines = tail_until(util, "--source", "api", until=lambda lines: len(of_connection(lines)) == 3)

    assert {line.source for line in lines} == {"api"}
    assert [
        (line.fields["eventType"], line.fields["routeKey"], line.fields["status"]) for line in of_connection(lines)
    ] == [("CONNECT", "$connect", "200"), ("MESSAGE", "whoami", "200"), ("DISCONNECT", "$disconnect", "200")]
