"""`util tail-logs`: both log groups interleaved by time, read from moto with filter_log_events."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from .conftest import UTIL, LineReader, StateWriter, UtilRunner, assert_one_line_error, aws_client

FOLLOW_DEADLINE_S = 15.0
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (lambda|api)\s+(.*)$")


def now_ms() -> int:
    return int(time.time() * 1000)


def lambda_line(level: str, message: str, **fields: Any) -> str:
    return json.dumps({"timestamp": "ignored", "level": level, "message": message, "logger": "wspush", **fields})


class LogGroups:
    """This test's own pair of log groups, so events of other tests never show up."""

    def __init__(self, stack: Mapping[str, str]) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.lambda_group = f"{stack['lambda_log_group']}-{suffix}"
        self.api_group = f"{stack['api_log_group']}-{suffix}"
        self.client = aws_client(stack["aws_endpoint_url"], "logs")
        for group in (self.lambda_group, self.api_group):
            self.client.create_log_group(logGroupName=group)
            self.client.create_log_stream(logGroupName=group, logStreamName="stream")

    def put(self, group: str, timestamp_ms: int, message: str) -> None:
        self.client.put_log_events(
            logGroupName=group, logStreamName="stream", logEvents=[{"timestamp": timestamp_ms, "message": message}]
        )


@pytest.fixture
def groups(stack: dict[str, str], write_state: StateWriter) -> LogGroups:
    log_groups = LogGroups(stack)
    write_state({**stack, "lambda_log_group": log_groups.lambda_group, "api_log_group": log_groups.api_group})
    return log_groups


def shown(stdout: str) -> list[tuple[str, str]]:
    """(source, rest of line) of every event line printed."""
    rows = []
    for line in stdout.splitlines():
        match = LINE.match(line)
        assert match, line
        rows.append((match.group(2), match.group(3)))
    return rows


def test_tail_logs_interleaves_both_groups_in_time_order(util: UtilRunner, groups: LogGroups) -> None:
    start = now_ms() - 60_000
    # Put out of order on purpose: the display order must come from the timestamps alone.
    groups.put(groups.api_group, start + 3000, '{"routeKey": "$default", "status": 200}')
    groups.put(groups.lambda_group, start + 1000, lambda_line("INFO", "first"))
    groups.put(groups.api_group, start + 2000, '{"routeKey": "$connect", "status": 200}')
    groups.put(groups.lambda_group, start + 4000, lambda_line("INFO", "last"))

    result = util("tail-logs", "--format", "detailed", "--no-follow", "--since", "5m")

    assert result.code == 0, result
    assert [source for source, _ in shown(result.stdout)] == ["lambda", "api", "api", "lambda"]
    rows = shown(result.stdout)
    assert "first" in rows[0][1] and "$connect" in rows[1][1] and "$default" in rows[2][1] and "last" in rows[3][1]


def test_tail_logs_shows_json_lines_readably(util: UtilRunner, groups: LogGroups) -> None:
    stamp = now_ms() - 1000
    groups.put(groups.lambda_group, stamp, lambda_line("ERROR", "push failed", connectionId="abc=", requestId=None))
    result = util("tail-logs", "--format", "detailed", "--no-follow", "--source", "lambda")
    assert result.code == 0, result
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp / 1000))
    assert result.stdout.splitlines() == [f"{moment}.{stamp % 1000:03d}Z lambda ERROR   push failed  connectionId=abc="]


def test_tail_logs_shows_plain_lines_as_they_are(util: UtilRunner, groups: LogGroups) -> None:
    groups.put(groups.lambda_group, now_ms() - 1000, "START RequestId: 1234 Version: $LATEST")
    result = util("tail-logs", "--format", "detailed", "--no-follow")
    assert result.code == 0, result
    assert shown(result.stdout) == [("lambda", "START RequestId: 1234 Version: $LATEST")]


def test_tail_logs_source_selects_one_group(util: UtilRunner, groups: LogGroups) -> None:
    groups.put(groups.lambda_group, now_ms() - 2000, lambda_line("INFO", "from lambda"))
    groups.put(groups.api_group, now_ms() - 1000, '{"routeKey": "$connect"}')

    only_api = util("tail-logs", "--format", "detailed", "--no-follow", "--source", "api")
    only_lambda = util("tail-logs", "--format", "detailed", "--no-follow", "--source", "lambda")

    assert [source for source, _ in shown(only_api.stdout)] == ["api"]
    assert [source for source, _ in shown(only_lambda.stdout)] == ["lambda"]


def test_tail_logs_filter_keeps_only_matching_events(util: UtilRunner, groups: LogGroups) -> None:
    groups.put(groups.lambda_group, now_ms() - 3000, lambda_line("INFO", "fanout done"))
    groups.put(groups.lambda_group, now_ms() - 2000, lambda_line("ERROR", "push failed"))
    groups.put(groups.api_group, now_ms() - 1000, '{"routeKey": "$connect"}')

    result = util("tail-logs", "--format", "detailed", "--no-follow", "--filter", '"push failed"')

    assert result.code == 0, result
    rows = shown(result.stdout)
    assert len(rows) == 1 and "push failed" in rows[0][1]


def test_tail_logs_since_leaves_out_older_events(util: UtilRunner, groups: LogGroups) -> None:
    groups.put(groups.lambda_group, now_ms() - 2 * 3600_000, lambda_line("INFO", "two hours ago"))
    groups.put(groups.lambda_group, now_ms() - 60_000, lambda_line("INFO", "a minute ago"))

    recent = util("tail-logs", "--format", "detailed", "--no-follow", "--since", "1h")
    everything = util("tail-logs", "--format", "detailed", "--no-follow", "--since", "3h")
    default = util("tail-logs", "--format", "detailed", "--no-follow")

    assert ["a minute ago" in rest for _, rest in shown(recent.stdout)] == [True]
    assert len(shown(everything.stdout)) == 2
    assert len(shown(default.stdout)) == 1  # the default window is 10 minutes


def test_tail_logs_since_accepts_an_iso_time(util: UtilRunner, groups: LogGroups) -> None:
    groups.put(groups.lambda_group, now_ms() - 2 * 3600_000, lambda_line("INFO", "old"))
    since = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3 * 3600))
    result = util("tail-logs", "--format", "detailed", "--no-follow", "--since", since)
    assert result.code == 0, result
    assert len(shown(result.stdout)) == 1


@pytest.mark.stack  # follows until stopped: a real process and a signal
def test_tail_logs_follow_prints_events_put_later(util_env: dict[str, str], groups: LogGroups) -> None:
    groups.put(groups.lambda_group, now_ms() - 1000, lambda_line("INFO", "before"))
    process = subprocess.Popen(
        [str(UTIL), "tail-logs", "--format", "detailed", "--follow", "--interval", "0.2"],
        env=util_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        reader = LineReader(process.stdout)
        first = reader.line(FOLLOW_DEADLINE_S)
        assert "before" in first, first
        groups.put(groups.api_group, now_ms(), '{"routeKey": "later"}')
        second = reader.line(FOLLOW_DEADLINE_S)
        assert "later" in second and " api " in second, second
        # Ctrl-C is how a user stops following: a clean exit, no traceback.
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=FOLLOW_DEADLINE_S) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=FOLLOW_DEADLINE_S)
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()


def test_tail_logs_refuses_a_bad_since(util: UtilRunner, groups: LogGroups) -> None:
    assert_one_line_error(
        util("tail-logs", "--format", "detailed", "--no-follow", "--since", "ten minutes"), "--since", code=2
    )


def test_tail_logs_names_a_missing_log_group(util: UtilRunner, stack: dict[str, str], write_state: StateWriter) -> None:
    write_state({**stack, "api_log_group": "/aws/apigateway/nowhere"})
    assert_one_line_error(
        util("tail-logs", "--format", "detailed", "--no-follow"), "/aws/apigateway/nowhere", "does not exist", code=1
    )


def test_tail_logs_refuses_an_unknown_source(util: UtilRunner, groups: LogGroups) -> None:
    assert_one_line_error(
        util("tail-logs", "--format", "detailed", "--no-follow", "--source", "s3"), "--source", code=2
    )


def test_tail_logs_short_hides_the_runtime_bookkeeping_and_cuts_api_lines(util: UtilRunner, groups: LogGroups) -> None:
    start = now_ms() - 60_000
    access = {
        "requestId": "r1",
        "extendedRequestId": "r1",
        "ip": "127.0.0.1",
        "requestTime": "01/Dec/2026:10:00:00 +0000",
        "eventType": "MESSAGE",
        "routeKey": "broadcast",
        "status": 200,
        "connectionId": "c1=",
        "integrationStatus": 200,
        "apiId": "abc",
        "stage": "live",
        "domainName": "127.0.0.1:3001",
    }
    groups.put(groups.lambda_group, start, "START RequestId: r1 Version: $LATEST")
    groups.put(groups.lambda_group, start + 1, lambda_line("INFO", "broadcast", requestId="r1", recipients=2))
    groups.put(groups.lambda_group, start + 2, "END RequestId: r1")
    groups.put(groups.lambda_group, start + 3, "REPORT RequestId: r1\tDuration: 3.00 ms")
    groups.put(groups.api_group, start + 4, json.dumps(access))

    result = util("tail-logs", "--no-follow", "--since", "5m")  # short is the default

    assert result.code == 0, result
    lines = result.stdout.splitlines()
    assert [line[13:] for line in lines] == [
        "lambda INFO    broadcast  recipients=2",
        "api    eventType=MESSAGE routeKey=broadcast status=200 connectionId=c1= integrationStatus=200",
    ], lines
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", line[:12]) for line in lines), lines
    detailed = util("tail-logs", "--no-follow", "--since", "5m", "--format", "detailed")
    assert len(detailed.stdout.splitlines()) == 5


def test_tail_logs_json_is_one_object_per_event(util: UtilRunner, groups: LogGroups) -> None:
    start = now_ms() - 60_000
    groups.put(groups.lambda_group, start, "START RequestId: r1 Version: $LATEST")
    groups.put(groups.lambda_group, start + 1, lambda_line("INFO", "hello"))

    result = util("tail-logs", "--no-follow", "--since", "5m", "--format", "json")

    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(record["source"], record["message"]) for record in records] == [
        ("lambda", "START RequestId: r1 Version: $LATEST"),
        ("lambda", {"timestamp": "ignored", "level": "INFO", "message": "hello", "logger": "wspush"}),
    ]
    assert all(record["timestamp"].endswith("Z") and record["eventId"] for record in records)


def test_tail_logs_connection_keeps_the_lines_about_that_connection(util: UtilRunner, groups: LogGroups) -> None:
    groups.put(
        groups.lambda_group, now_ms() - 4000, lambda_line("INFO", "connected", connectionId="abc=", requestId="r1")
    )
    groups.put(
        groups.lambda_group, now_ms() - 3000, lambda_line("INFO", "connected", connectionId="xyz=", requestId="r2")
    )
    groups.put(groups.api_group, now_ms() - 2000, '{"routeKey": "$connect", "connectionId": "abc=", "requestId": "a1"}')
    groups.put(groups.lambda_group, now_ms() - 1000, "START RequestId: r1 Version: $LATEST")

    result = util("tail-logs", "--format", "detailed", "--no-follow", "--connection", "abc=")

    assert result.code == 0, result
    rows = shown(result.stdout)
    assert [source for source, _ in rows] == ["lambda", "api"]
    assert all("connectionId=abc=" in rest for _, rest in rows)


def test_tail_logs_request_keeps_that_requests_lines_and_its_runtime_lines(util: UtilRunner, groups: LogGroups) -> None:
    groups.put(groups.lambda_group, now_ms() - 4000, "START RequestId: r1 Version: $LATEST")
    groups.put(groups.lambda_group, now_ms() - 3000, lambda_line("INFO", "fanout", connectionId="abc=", requestId="r1"))
    groups.put(groups.lambda_group, now_ms() - 2000, lambda_line("INFO", "fanout", connectionId="abc=", requestId="r2"))
    groups.put(groups.lambda_group, now_ms() - 1000, "END RequestId: r1")

    result = util("tail-logs", "--format", "detailed", "--no-follow", "--request", "r1")

    assert result.code == 0, result
    rows = [rest for _, rest in shown(result.stdout)]
    assert len(rows) == 3
    assert rows[0].startswith("START RequestId: r1") and rows[2].startswith("END RequestId: r1")
    assert "requestId=r1" in rows[1]


def test_tail_logs_refuses_an_empty_connection_id(util: UtilRunner, groups: LogGroups) -> None:
    result = util("tail-logs", "--no-follow", "--connection", " ")

    assert_one_line_error(result, "--connection needs an id")
