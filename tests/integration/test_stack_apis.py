"""The stack's HTTP APIs beyond the WebSocket: `@connections` quirks and limits, and the Lambda API subset."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import itertools
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from util.local.stack import StackThread

from .conftest import open_socket, recv_json, run, running_stack, stack_settings
from .test_runtime import package_of_sleepy_v2

pytestmark = pytest.mark.timeout(120)

_odd_ids = itertools.count()


def id_with_slash_and_plus() -> str:
    """Connection ids as AWS may issue them: '+' and '/' are base64 characters too."""
    return f"a/b+{next(_odd_ids):011d}="


@pytest.fixture(scope="module")
def limited_stack() -> Iterator[StackThread]:
    settings = stack_settings(idle_timeout_s=1.0, max_duration_s=2.5, latency_ms=100.0, workers=1)
    with running_stack(settings, connection_id=id_with_slash_and_plus) as thread:
        yield thread


@pytest.fixture(scope="module")
def faulty_stack() -> Iterator[StackThread]:
    with running_stack(stack_settings(fault_rate=1.0, workers=1)) as thread:
        yield thread


@pytest.fixture(scope="module")
def function_stack() -> Iterator[StackThread]:
    with running_stack(stack_settings(handler="tests.integration.handlers.echo.sleepy", workers=1)) as thread:
        yield thread


def management(stack: StackThread, retries: int = 3) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name="us-east-1",
        config=BotoConfig(retries={"mode": "standard", "max_attempts": retries}),
        **stack.credentials.client_kwargs(),
    )


def lambda_client(stack: StackThread) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=stack.outputs["lambda_endpoint_url"],
        region_name="us-east-1",
        **stack.credentials.client_kwargs(),
    )


async def expect_close(socket: Any) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(socket.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_boto3_reaches_a_connection_whose_id_holds_slash_and_plus_and_pays_the_latency(
    limited_stack: StackThread,
) -> None:
    async def main() -> None:
        async with await open_socket(limited_stack.outputs["websocket_url"]) as socket:
            await socket.send('{"action": "echo"}')
            connection_id = (await recv_json(socket))["event"]["requestContext"]["connectionId"]
            assert "/" in connection_id and "+" in connection_id
            started = time.perf_counter()
            await asyncio.to_thread(
                management(limited_stack).post_to_connection, ConnectionId=connection_id, Data=b"odd id"
            )
            assert time.perf_counter() - started >= 0.1
            assert await asyncio.wait_for(socket.recv(), 10) == "odd id"

    run(main())


def test_an_idle_connection_is_closed_with_1001_and_activity_keeps_it_open(limited_stack: StackThread) -> None:
    async def main() -> None:
        socket = await open_socket(limited_stack.outputs["websocket_url"])
        for _ in range(3):  # 1.5 s in all, past the 1 s idle timeout
            await asyncio.sleep(0.5)
            await socket.send('{"action": "echo"}')
            await recv_json(socket)
        assert await expect_close(socket) == (1001, "Going away")

    run(main())


def test_a_connection_is_closed_at_its_maximum_duration_even_when_active(limited_stack: StackThread) -> None:
    async def main() -> None:
        socket = await open_socket(limited_stack.outputs["websocket_url"])
        started = time.perf_counter()
        with pytest.raises(ConnectionClosed) as closed:
            while time.perf_counter() - started < 10:
                await socket.send('{"action": "echo"}')
                await recv_json(socket)
                await asyncio.sleep(0.3)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert 2.4 <= time.perf_counter() - started < 4.0

    run(main())


def test_unsigned_connections_calls_are_refused_with_403(limited_stack: StackThread) -> None:
    request = urllib.request.Request(f"{limited_stack.outputs['connections_url']}/@connections/abc", method="GET")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert refused.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_fault_rate_one_answers_every_connections_call_with_500_or_429(faulty_stack: StackThread) -> None:
    client = management(faulty_stack, retries=1)
    statuses = set()
    for _ in range(8):
        with pytest.raises(ClientError) as failed:
            client.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")
        statuses.add(failed.value.response["ResponseMetadata"]["HTTPStatusCode"])
    assert statuses <= {500, 429}
    assert statuses


def test_lambda_api_describes_the_function_by_the_contract_names(function_stack: StackThread) -> None:
    client = lambda_client(function_stack)
    name = function_stack.outputs["lambda_function_name"]
    configuration = client.get_function(FunctionName=name)["Configuration"]
    assert configuration["FunctionName"] == name
    assert configuration["FunctionArn"].endswith(f":function:{name}")
    assert configuration["Handler"] == "tests.integration.handlers.echo.sleepy"
    assert configuration["Runtime"] == "python3.12"
    assert configuration["LastUpdateStatus"] == "Successful"
    variables = configuration["Environment"]["Variables"]
    assert variables["CONNECTIONS_BUCKET"] == function_stack.outputs["connections_bucket"]
    assert variables["CONNECTIONS_URL"] == function_stack.outputs["connections_url"]
    assert client.get_function_configuration(FunctionName=configuration["FunctionArn"])["CodeSha256"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="someone-elses-function")


def test_lambda_invoke_runs_the_handler_request_response_and_event(function_stack: StackThread) -> None:
    client = lambda_client(function_stack)
    name = function_stack.outputs["lambda_function_name"]
    response = client.invoke(FunctionName=name, Payload=b'{"sleep_s": 0}')
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["Payload"].read().startswith(b'{"slept": 0')
    assert client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    failed = client.invoke(FunctionName=name, Payload=b'{"sleep_s": "not a number"}')
    assert failed["FunctionError"] == "Unhandled"
    assert b'"errorType": "ValueError"' in failed["Payload"].read()


def test_lambda_invoke_event_answers_202_before_the_handler_finishes(function_stack: StackThread) -> None:
    client = lambda_client(function_stack)
    name = function_stack.outputs["lambda_function_name"]
    started = time.monotonic()
    response = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"sleep_s": 3}')
    # The handler sleeps 3 s: an answer well before that was not waiting for it.
    assert response["StatusCode"] == 202
    assert time.monotonic() - started < 2.0


def test_update_function_code_swaps_the_code_without_a_restart(function_stack: StackThread) -> None:
    client = lambda_client(function_stack)
    name = function_stack.outputs["lambda_function_name"]
    package = package_of_sleepy_v2()
    updated = client.update_function_code(FunctionName=name, ZipFile=package)
    assert updated["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert updated["LastUpdateStatus"] == "Successful"
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    assert client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read() == b'{"version": 2}'


def test_update_function_code_refuses_a_zip_with_unsafe_paths_or_no_zip_at_all(function_stack: StackThread) -> None:
    client = lambda_client(function_stack)
    name = function_stack.outputs["lambda_function_name"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../escape.py", "x = 1\n")
    for package in (buffer.getvalue(), b"not a zip"):
        with pytest.raises(client.exceptions.InvalidParameterValueException):
            client.update_function_code(FunctionName=name, ZipFile=package)
