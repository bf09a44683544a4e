"""Failures end to end, against a `util local up` of its own with a slow `@connections` and a short timeout:

- a broadcast to 300 clients that crosses the function's deadline is continued, and reaches all 300 exactly once;
- a push whose handling fails (the store gone) is tried three times (the event-invoke config), lands in the
  stack's dead-letter queue, is listed by `util dead-letters`, and `util dead-letters --replay` delivers it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from lambda_src.store.contract import Connection
from tests.reliability import moto_state
from tests.reliability.clients import Client, close_clients, open_clients, recv_frame
from tests.stack_harness import LocalUp
from tests.util.conftest import Result, run_util
from util.local.aws import resources as aws

from .local_up import start_local_up, stop_local_up_process

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

CLIENTS = 300
LATENCY_MS = 500
"""Each `@connections` call takes this long: 64 posts in flight make ~128 a second, fewer than 300 in the
second of posting a 3 s invocation has before its deadline margin (2 s)."""
TIMEOUT_S = 3
RETRY_DELAY_S = 0.2
"""Between the attempts of a failed asynchronous invocation (Lambda's are 60 and 120 s)."""
WAIT_TIMEOUT_S = 60.0
POLL_S = 0.2


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    up = start_local_up(
        tmp_path_factory.mktemp("failures-stack"),
        (
            "--latency-ms",
            str(LATENCY_MS),
            "--timeout",
            str(TIMEOUT_S),
            "--async-retry-delays",
            str(RETRY_DELAY_S),
        ),
    )
    try:
        yield up
    finally:
        stop_local_up_process(up.process)


def util(stack: LocalUp, *args: str) -> Result:
    result = run_util(list(args), stack.env, timeout_s=60.0)
    assert result.code == 0, result.stderr
    return result


def wait_for(read: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not (value := read()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)
    return value


def chain_finished(stack: LocalUp, since_ms: int) -> list[dict[str, Any]]:
    """The fan-out lines of the broadcast's chain, once its last (nothing left unfinished) was logged."""
    lines = moto_state.fanout_summaries(moto_state.log_lines(stack.outputs, "lambda_log_group", since_ms))
    done = [line for line in lines if line.get("recipients") == line.get("delivered") and "continuation" in line]
    return lines if done else []


def test_a_broadcast_crossing_the_deadline_reaches_all_300_exactly_once_through_continuations(stack: LocalUp) -> None:
    async def main() -> tuple[list[Counter[str]], int]:
        clients: list[Client] = await open_clients(stack.outputs["websocket_url"], CLIENTS, "slow")
        try:
            since = moto_state.now_ms()
            await clients[0].socket.send(json.dumps({"action": "broadcast", "message": "across the deadline"}))
            received = [Counter[str]() for _ in clients]
            for client, seen in zip(clients, received, strict=True):
                frame = await recv_frame(client.socket, WAIT_TIMEOUT_S)
                seen[str(frame.get("message"))] += 1
            await asyncio.to_thread(wait_for, lambda: chain_finished(stack, since), "the last continuation")
            # The chain's last post was answered before its line was logged: a duplicate would be here by now.
            for client, seen in zip(clients, received, strict=True):
                while True:
                    try:
                        frame = await asyncio.wait_for(client.socket.recv(), 0.05)
                    except TimeoutError:
                        break
                    seen[str(json.loads(frame).get("message"))] += 1
            return received, since
        finally:
            await close_clients(clients)

    received, since = asyncio.run(asyncio.wait_for(main(), 240))

    assert all(seen == Counter({"across the deadline": 1}) for seen in received)
    lines = moto_state.fanout_summaries(moto_state.log_lines(stack.outputs, "lambda_log_group", since))
    first = next(line for line in lines if line["recipients"] == CLIENTS)
    assert first["continued"] == first["unfinished"] > 0
    chain = [line for line in lines if "continuation" in line]
    assert len(chain) >= 1
    assert first["delivered"] + sum(line["delivered"] for line in chain) == CLIENTS
    assert all(line["failed"] == 0 for line in [first, *chain])


def test_a_push_that_fails_three_times_lands_in_the_dead_letter_queue_and_replay_delivers_it(stack: LocalUp) -> None:
    outputs = stack.outputs
    s3 = moto_state.client(outputs, "s3")
    bucket = outputs["connections_bucket"]

    async def main() -> dict[str, Any]:
        [client] = await open_clients(outputs["websocket_url"], 1, "dlq")
        try:
            record = aws.store_for_outputs(outputs).get(client.connection_id)
            assert record is not None
            aws.empty_bucket(s3, bucket)
            s3.delete_bucket(Bucket=bucket)  # the store unreachable: every attempt of the push fails
            try:
                await asyncio.to_thread(util, stack, "send-data", '{"pushed": "late"}')
                letters = await asyncio.to_thread(
                    wait_for, lambda: json.loads(util(stack, "dead-letters", "--json").stdout), "a dead letter"
                )
            finally:
                s3.create_bucket(Bucket=bucket)
            aws.store_for_outputs(outputs).add(Connection(record.connection_id, record.name, record.connected_at_ms))
            [letter] = letters
            assert (letter["kind"], letter["origin"], letter["condition"], letter["attempts"]) == (
                "push",
                "lambda",
                "RetriesExhausted",
                3,
            )
            assert "records failed" in letter["error"]
            table = util(stack, "dead-letters").stdout
            assert letter["reference"] in table and "RetriesExhausted" in table

            replayed = json.loads(util(stack, "dead-letters", "--replay", "--json").stdout)
            assert [r["reference"] for r in replayed["replayed"]] == [letter["reference"]]
            frame = await recv_frame(client.socket, WAIT_TIMEOUT_S)
            assert json.loads(util(stack, "dead-letters", "--json").stdout) == []
            return dict(frame)
        finally:
            await close_clients([client])

    assert asyncio.run(asyncio.wait_for(main(), 240)) == {"pushed": "late"}


def test_the_stack_starts_with_the_deployments_event_invoke_config(stack: LocalUp) -> None:
    """As `terraform apply` leaves it: retries, maximum age and the dead-letter queue as on-failure destination."""
    lambda_api = boto3.client(
        "lambda",
        endpoint_url=stack.outputs["lambda_endpoint_url"],
        region_name=stack.outputs["region"],
        **stack.credentials.client_kwargs(),
    )
    queue = moto_state.client(stack.outputs, "sqs").get_queue_attributes(
        QueueUrl=stack.outputs["dead_letter_queue_url"], AttributeNames=["QueueArn", "SqsManagedSseEnabled"]
    )["Attributes"]

    config = lambda_api.get_function_event_invoke_config(FunctionName=stack.outputs["lambda_function_name"])

    assert (config["MaximumRetryAttempts"], config["MaximumEventAgeInSeconds"]) == (2, 600)
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue["QueueArn"]
    assert queue["SqsManagedSseEnabled"] == "true"
