"""With no local stack running (never started, or gone without cleaning up): one error line, never a traceback."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.util.conftest import assert_one_line_error, run_util
from util.local.aws.credentials import STATE_KEY, LocalCredentials

from .local_up import util_environment

pytestmark = pytest.mark.timeout(60)

NOT_RUNNING = "the local stack is not running"


def closed_port() -> int:
    """A loopback port nothing listens on: where a stack killed with SIGKILL used to be."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_state(tmp_path: Path) -> dict[str, str]:
    """`util`'s environment with a state file path that holds nothing: no stack was ever started."""
    return util_environment(tmp_path / "state" / "local-stack.json")


@pytest.fixture
def stale_state(tmp_path: Path) -> dict[str, str]:
    """A state file left behind by a stack that died without cleaning up: every URL points at nothing."""
    base = f"127.0.0.1:{closed_port()}"
    path = tmp_path / "state" / "local-stack.json"
    path.parent.mkdir(parents=True)
    outputs = {
        "websocket_url": f"ws://{base}/live",
        "connections_url": f"http://{base}/live",
        "api_id": "gone000000",
        "stage": "live",
        "region": "us-east-1",
        "lambda_function_name": "wspush-local-handler",
        "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:wspush-local-push",
        "connections_bucket": "wspush-local-connections-123456789012",
        "lambda_log_group": "/aws/lambda/wspush-local-handler",
        "api_log_group": "/aws/apigateway/wspush-local-api",
        "aws_endpoint_url": f"http://{base}",
        "lambda_endpoint_url": f"http://{base}",
    }
    # Its credentials too: the dead stack wrote them with its outputs.
    state = {**outputs, STATE_KEY: LocalCredentials.generate().to_state()}
    path.write_text(json.dumps(state), encoding="utf-8")
    return util_environment(path)


def test_send_data_of_data_that_is_not_json_is_one_line_before_any_stack_is_needed(no_state: dict[str, str]) -> None:
    result = run_util(["send-data", "x", "--env", "local"], no_state)
    assert_one_line_error(result, "DATA is not valid JSON", "--raw", code=2)


@pytest.mark.parametrize(
    "command",
    [
        ["send-data", '{"hello": "world"}', "--env", "local"],
        ["tail-logs", "--no-follow", "--env", "local"],
        ["lambda-deploy", "local"],
        ["connect", "--listen", "1", "--timeout", "5", "--env", "local"],
        ["outputs", "local", "--json"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_without_a_local_stack_is_one_line(no_state: dict[str, str], command: list[str]) -> None:
    result = run_util(command, no_state)
    assert_one_line_error(result, NOT_RUNNING, no_state["WSPUSH_LOCAL_STATE"], "util local up", code=1)
    assert result.stdout == ""


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["send-data", '{"hello": "world"}'], id="send-data"),
        pytest.param(["tail-logs", "--no-follow"], id="tail-logs"),
        pytest.param(["lambda-deploy", "local"], id="lambda-deploy"),
        pytest.param(["connect", "--no-reconnect", "--listen", "1"], id="connect"),
    ],
)
def test_every_command_against_a_stack_that_is_gone_says_so_and_how_to_start_it(
    stale_state: dict[str, str], command: list[str]
) -> None:
    result = run_util(command, stale_state)
    # The recorded stack is named, not the random port of its moto (`cannot reach http://127.0.0.1:43005/`).
    assert_one_line_error(result, "the local stack recorded in", "is gone", "local up", code=1, after_progress=True)
    assert "cannot reach" not in result.stderr
    assert result.stdout == ""
