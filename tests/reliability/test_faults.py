"""Faults: `@connections` failing a tenth of the time, a connection gone mid-broadcast, S3 failing one invocation.

CI: 30 clients, 5 broadcasts at once; `RELIABILITY_SCALE=full`: 300 clients, 10 broadcasts. See
docs/reliability.md for why the poster's MAX_ATTEMPTS makes "nothing lost" hold at a 10% fault rate.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus

from lambda_src.store.contract import Connection

from .clients import close_clients, open_client, open_clients, recv_frame, run, sync, sync_all
from .conftest import TOKEN, require_empty_store
from .moto_state import (
    client,
    failures,
    fanout_summaries,
    log_lines,
    now_ms,
    store,
    stored_connection_ids,
    structured,
)
from .scale import SIZES
from .stack_process import StackProcess

pytestmark = pytest.mark.timeout(SIZES.timeout_s + 60)

PROBE_POSTS = 400
"""Unretried probes of the fault injection: at a 10% rate, fewer than 12 or more than 80 faults is a 1e-6 event."""
UNKNOWN_ID = "AAAAAAAAAAAAAAA="
GONE_CLIENTS = 12
"""Live clients of the 410 test; a stale record follows every other one in the bucket's key order."""


def management(stack: StackProcess, attempts: int) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name=stack.outputs["region"],
        config=BotoConfig(retries={"mode": "standard", "total_max_attempts": attempts}),
        **stack.credentials.client_kwargs(),
    )


def test_the_faulty_stack_answers_about_a_tenth_of_unretried_posts_with_500_or_429(faulty_stack: StackProcess) -> None:
    api = management(faulty_stack, attempts=1)
    answers: Counter[str] = Counter()
    for _ in range(PROBE_POSTS):
        try:
            api.post_to_connection(ConnectionId=UNKNOWN_ID, Data=b"probe")
        except ClientError as error:
            answers[error.response["Error"]["Code"]] += 1

    faults = answers["InternalServerErrorException"] + answers["LimitExceededException"]
    assert set(answers) == {"GoneException", "InternalServerErrorException", "LimitExceededException"}
    assert 12 <= faults <= 80
    assert answers["GoneException"] == PROBE_POSTS - faults


def test_broadcasts_reach_every_live_client_although_a_tenth_of_posts_fail(faulty_stack: StackProcess) -> None:
    clients_n, broadcasts_n = SIZES.fault_clients, SIZES.fault_broadcasts
    require_empty_store(faulty_stack)
    started_ms = now_ms()

    async def main() -> list[list[Any]]:
        clients = await open_clients(faulty_stack.websocket_url, clients_n, "faulty")
        try:
            senders = clients[:broadcasts_n]
            for sender in senders:
                await sender.socket.send(json.dumps({"action": "broadcast", "message": sender.name}))
            # Once every sender's marker is back, every fan-out is over: a second round then finds all frames.
            first = await sync_all(senders) + [[] for _ in clients[broadcasts_n:]]
            second = await sync_all(clients)
            return [a + b for a, b in zip(first, second, strict=True)]
        finally:
            await close_clients(clients)

    received = run(main(), SIZES.timeout_s)

    expected = sorted(f"faulty-{i}" for i in range(broadcasts_n))
    assert [sorted(frame["message"] for frame in frames) for frames in received] == [expected] * clients_n
    lines = log_lines(faulty_stack.outputs, "lambda_log_group", started_ms)
    assert failures(lines) == []
    assert [entry for entry in structured(lines) if entry["message"] == "post failed"] == []
    summaries = fanout_summaries(lines)
    assert [(s["recipients"], s["delivered"], s["failed"]) for s in summaries] == [(clients_n, clients_n, 0)] * len(
        expected
    )


def test_a_connection_gone_in_the_middle_of_a_broadcast_is_pruned_and_the_rest_still_arrive(
    faulty_stack: StackProcess,
) -> None:
    outputs = faulty_stack.outputs
    require_empty_store(faulty_stack)
    started_ms = now_ms()

    async def main() -> tuple[list[str], list[list[Any]], set[str], list[str]]:
        clients = await open_clients(faulty_stack.websocket_url, GONE_CLIENTS, "live")
        try:
            # A stale id right after every other live id in key order: the 410s come mid-listing, not at an end.
            live_ids = sorted((c.connection_id for c in clients), key=lambda cid: quote(cid, safe=""))
            stale_ids = [f"{cid}x" for cid in live_ids[::2]]
            connections = store(outputs)
            for cid in stale_ids:
                connections.add(Connection(cid, "ghost", 1))
                connections.join(Connection(cid, "ghost", 1), "lobby")
            sender = clients[-1]
            await sender.socket.send(json.dumps({"action": "broadcast", "message": "who is here"}))
            received = [await sync(sender), *await sync_all(clients[:-1])]
            return stale_ids, received, stored_connection_ids(outputs), list(store(outputs).room_members("lobby"))
        finally:
            await close_clients(clients)

    stale_ids, received, stored, memberships = run(main(), SIZES.timeout_s)

    assert [[frame["message"] for frame in frames] for frames in received] == [["who is here"]] * GONE_CLIENTS
    assert len(stored) == GONE_CLIENTS and not stored & set(stale_ids)
    assert memberships == []
    lines = log_lines(outputs, "lambda_log_group", started_ms)
    assert failures(lines) == []
    [summary] = fanout_summaries(lines)
    assert (summary["recipients"], summary["delivered"], summary["gone"], summary["failed"]) == (
        GONE_CLIENTS + len(stale_ids),
        GONE_CLIENTS,
        len(stale_ids),
        0,
    )


def take_bucket_away(outputs: dict[str, str]) -> dict[str, bytes]:
    """Empty and delete the connection bucket; returns its objects, for `give_bucket_back`.

    An outage of S3 itself (this stack runs the S3 store): the one place outside the S3 store's own tests that
    touches the bucket, because it takes the service away rather than reading the store."""
    s3 = client(outputs, "s3")
    bucket = outputs["connections_bucket"]
    listing = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [item["Key"] for page in listing for item in page.get("Contents", [])]
    saved = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}
    for key in saved:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    return saved


def give_bucket_back(outputs: dict[str, str], saved: dict[str, bytes]) -> None:
    s3 = client(outputs, "s3")
    bucket = outputs["connections_bucket"]
    s3.create_bucket(Bucket=bucket)
    for key, body in saved.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def test_an_s3_failure_fails_only_that_invocation_cleanly_and_the_next_ones_work(stack: StackProcess) -> None:
    outputs = stack.outputs
    require_empty_store(stack)
    started_ms = now_ms()

    async def main() -> tuple[Any, int, list[list[Any]], list[list[Any]]]:
        clients = await open_clients(stack.websocket_url, 3, "s3", TOKEN)
        alice = clients[0]
        try:
            saved = take_bucket_away(outputs)
            try:
                await alice.socket.send(json.dumps({"action": "broadcast", "message": "during the outage"}))
                error_frame = await recv_frame(alice.socket)
                with pytest.raises(InvalidStatus) as refused:
                    await open_client(stack.websocket_url, "late", TOKEN)
            finally:
                give_bucket_back(outputs, saved)
            during = await sync_all(clients)
            await alice.socket.send(json.dumps({"action": "broadcast", "message": "after the outage"}))
            after = [await sync(alice), *await sync_all(clients[1:])]
            return error_frame, refused.value.response.status_code, during, after
        finally:
            await close_clients(clients)

    error_frame, connect_status, during, after = run(main(), SIZES.timeout_s)

    assert error_frame == {"type": "error", "code": "internal_error", "error": "the server failed; try again"}
    assert connect_status == 500
    assert during == [[], [], []]
    assert [[frame["message"] for frame in frames] for frames in after] == [["after the outage"]] * 3
    lines = log_lines(outputs, "lambda_log_group", started_ms)
    failed = [entry for entry in structured(lines) if entry["message"] == "invocation failed"]
    assert [(entry["level"], entry["event"]) for entry in failed] == [
        ("ERROR", "MessageRequest"),
        ("ERROR", "ConnectRequest"),
    ]
    assert all("NoSuchBucket" in entry["exception"] for entry in failed)
    # The two failures are logged, each once; nothing else failed, before or after.
    assert len(failures(lines)) == 2
    access = [json.loads(line) for line in log_lines(outputs, "api_log_group", started_ms)]
    statuses = Counter((entry["eventType"], entry["integrationStatus"]) for entry in access)
    assert statuses[("MESSAGE", 500)] == 1 and statuses[("CONNECT", 500)] == 1
    assert sum(statuses.values()) == len(access) and statuses[("MESSAGE", None)] == 0
