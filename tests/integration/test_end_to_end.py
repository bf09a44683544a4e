"""The real Lambda (`lambda_src`) behind the local stack, driven by real `websockets` clients."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from lambda_src.store.contract import Connection
from lambda_src.store.open import StoreKind
from util.local.aws.resources import moto_of
from util.local.stack import StackThread

from .conftest import (
    RECEIVE_TIMEOUT_S,
    STORE_IDS,
    open_socket,
    recv_json,
    run,
    running_stack,
    stack_settings,
    stack_store,
)

pytestmark = pytest.mark.timeout(180)

TOKEN = "s3cret"
QUIET_S = 0.5
"""How long 'nothing arrives' is watched for, after the sender's own reply proved the fan-out finished."""


@pytest.fixture(scope="module", params=tuple(StoreKind), ids=STORE_IDS)
def stack(request: pytest.FixtureRequest) -> Iterator[StackThread]:
    settings = stack_settings(
        handler="lambda_src.app.handler", code_dir=None, token=TOKEN, workers=2, store=request.param
    )
    with running_stack(settings) as thread:
        yield thread


def ws_url(stack: StackThread, name: str | None = None, token: str | None = TOKEN) -> str:
    query = [f"name={name}"] if name else []
    if token is not None:
        query.append(f"token={token}")
    return stack.outputs["websocket_url"] + ("?" + "&".join(query) if query else "")


def aws(stack: StackThread, service: str) -> Any:
    return moto_of(stack.outputs, stack.credentials).client(service)


def management(stack: StackThread) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name="us-east-1",
        config=BotoConfig(retries={"mode": "standard"}),
        **stack.credentials.client_kwargs(),
    )


async def whoami(socket: ClientConnection) -> dict[str, Any]:
    await socket.send(json.dumps({"action": "whoami"}))
    reply: dict[str, Any] = await recv_json(socket)
    return reply


async def assert_nothing_pending(socket: ClientConnection) -> None:
    """The next frame is the reply to a new whoami: nothing was queued before it."""
    await asyncio.sleep(QUIET_S)
    assert (await whoami(socket))["type"] == "whoami"


def test_whoami_reports_the_connection_id_and_the_name_given_on_connect(stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice, await open_socket(ws_url(stack)) as nameless:
            me = await whoami(alice)
            assert set(me) == {"type", "connectionId", "name"}
            assert me["name"] == "alice"
            assert (await whoami(nameless))["name"] == "anonymous"
            info = management(stack).get_connection(ConnectionId=me["connectionId"])
            assert info["Identity"]["SourceIp"] == "127.0.0.1"

    run(main())


def test_broadcast_reaches_every_connection_including_the_sender(stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice, await open_socket(ws_url(stack, "bob")) as bob:
            alice_id = (await whoami(alice))["connectionId"]
            await alice.send(json.dumps({"action": "broadcast", "message": {"hi": [1, 2]}}))
            for socket in (alice, bob):
                frame = await recv_json(socket)
                assert frame["type"] == "message"
                assert frame["message"] == {"hi": [1, 2]}
                assert frame["from"] == {"connectionId": alice_id, "name": "alice"}
                assert isinstance(frame["sentAt"], int)
                assert "room" not in frame

    run(main())


def test_broadcast_skips_sender_when_echo_false(stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice, await open_socket(ws_url(stack, "bob")) as bob:
            await alice.send(json.dumps({"action": "broadcast", "message": "quiet", "echo": False}))
            assert (await recv_json(bob))["message"] == "quiet"
            await assert_nothing_pending(alice)

    run(main())


def test_send_delivers_a_direct_message_to_one_connection_only(stack: StackThread) -> None:
    async def main() -> None:
        async with (
            await open_socket(ws_url(stack, "alice")) as alice,
            await open_socket(ws_url(stack, "bob")) as bob,
            await open_socket(ws_url(stack, "carol")) as carol,
        ):
            bob_id = (await whoami(bob))["connectionId"]
            await alice.send(json.dumps({"action": "send", "to": bob_id, "message": "psst"}))
            frame = await recv_json(bob)
            assert (frame["type"], frame["message"], frame["from"]["name"]) == ("direct", "psst", "alice")
            await assert_nothing_pending(carol)
            await assert_nothing_pending(alice)

    run(main())


def test_send_to_an_unknown_connection_answers_an_error_frame(stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice:
            await alice.send(json.dumps({"action": "send", "to": "AAAAAAAAAAAAAAA=", "message": "hello?"}))
            frame = await recv_json(alice)
            assert (frame["type"], frame["code"]) == ("error", "not_found")

    run(main())


def test_room_broadcast_reaches_members_only_and_leave_ends_membership(stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice, await open_socket(ws_url(stack, "bob")) as bob:
            await alice.send(json.dumps({"action": "join", "room": "lobby"}))
            assert await recv_json(alice) == {"type": "joined", "room": "lobby"}
            await bob.send(json.dumps({"action": "broadcast", "room": "lobby", "message": "in the lobby"}))
            frame = await recv_json(alice)
            assert (frame["message"], frame["room"]) == ("in the lobby", "lobby")
            await assert_nothing_pending(bob)
            await alice.send(json.dumps({"action": "leave", "room": "lobby"}))
            assert await recv_json(alice) == {"type": "left", "room": "lobby"}
            await bob.send(json.dumps({"action": "broadcast", "room": "lobby", "message": "anyone?"}))
            await assert_nothing_pending(alice)

    run(main())


def test_sns_push_without_attributes_reaches_every_connection_verbatim(stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice, await open_socket(ws_url(stack, "bob")) as bob:
            await whoami(alice)
            await whoami(bob)
            aws(stack, "sns").publish(TopicArn=stack.outputs["sns_topic_arn"], Message='{"price": 42,  "x": "é"}')
            for socket in (alice, bob):
                assert await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT_S) == '{"price": 42,  "x": "é"}'

    run(main())


def test_sns_push_with_attributes_reaches_only_the_room_or_the_connection_named(stack: StackThread) -> None:
    async def main() -> None:
        sns = aws(stack, "sns")
        topic = stack.outputs["sns_topic_arn"]
        async with await open_socket(ws_url(stack, "alice")) as alice, await open_socket(ws_url(stack, "bob")) as bob:
            bob_id = (await whoami(bob))["connectionId"]
            await alice.send(json.dumps({"action": "join", "room": "news"}))
            await recv_json(alice)
            sns.publish(
                TopicArn=topic,
                Message="room only",
                MessageAttributes={"room": {"DataType": "String", "StringValue": "news"}},
            )
            assert await asyncio.wait_for(alice.recv(), RECEIVE_TIMEOUT_S) == "room only"
            sns.publish(
                TopicArn=topic,
                Message="just bob",
                MessageAttributes={"connectionId": {"DataType": "String", "StringValue": bob_id}},
            )
            assert await asyncio.wait_for(bob.recv(), RECEIVE_TIMEOUT_S) == "just bob"
            await assert_nothing_pending(alice)
            await assert_nothing_pending(bob)

    run(main())


def test_connect_without_the_right_token_is_refused_with_401(stack: StackThread) -> None:
    async def main() -> None:
        for url in (ws_url(stack, "mallory", token=None), ws_url(stack, "mallory", token="guess")):
            with pytest.raises(InvalidStatus) as refused:
                await open_socket(url)
            assert refused.value.response.status_code == 401

    run(main())


def test_a_message_over_128_kb_closes_the_connection_with_1009(stack: StackThread) -> None:
    async def main() -> None:
        socket = await open_socket(ws_url(stack, "big"))
        await whoami(socket)
        chunk = "x" * (32 * 1024)
        await socket.send([chunk] * 4 + ["!"])
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT_S)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

    run(main())


def test_connections_api_get_post_delete_and_410_through_boto3(stack: StackThread) -> None:
    client = management(stack)

    async def main() -> None:
        socket = await open_socket(ws_url(stack, "alice"))
        connection_id = (await whoami(socket))["connectionId"]
        info = await asyncio.to_thread(client.get_connection, ConnectionId=connection_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["Identity"]["UserAgent"].startswith("Python/")
        assert info["LastActiveAt"] >= info["ConnectedAt"]
        await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"from outside")
        assert await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT_S) == "from outside"
        with pytest.raises(client.exceptions.PayloadTooLargeException):
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        await asyncio.to_thread(client.delete_connection, ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(socket.recv(), RECEIVE_TIMEOUT_S)
        for call in (client.get_connection, client.delete_connection):
            with pytest.raises(client.exceptions.GoneException):
                await asyncio.to_thread(call, ConnectionId=connection_id)
        with pytest.raises(client.exceptions.GoneException):
            await asyncio.to_thread(client.post_to_connection, ConnectionId=connection_id, Data=b"late")

    run(main())


CLIENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from websockets.asyncio.client import connect

    async def main():
        async with connect(sys.argv[1]) as socket:
            await socket.send(json.dumps({"action": "whoami"}))
            print(json.loads(await socket.recv())["connectionId"], flush=True)
            await asyncio.sleep(60)

    asyncio.run(main())
    """
)


def stored_connection_ids(stack: StackThread) -> set[str]:
    return set(stack_store(stack).connection_ids())


def test_an_abruptly_killed_client_is_gone_by_the_next_broadcast(stack: StackThread) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, ws_url(stack, "doomed")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        killed_id = process.stdout.readline().strip()
        assert killed_id in stored_connection_ids(stack)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice:
            await alice.send(json.dumps({"action": "broadcast", "message": "still there?"}))
            assert (await recv_json(alice))["message"] == "still there?"
            await asyncio.sleep(QUIET_S)
        assert killed_id not in stored_connection_ids(stack)
        with pytest.raises(management(stack).exceptions.GoneException):
            management(stack).get_connection(ConnectionId=killed_id)

    run(main())


def test_a_connection_whose_disconnect_was_lost_is_pruned_by_the_next_broadcast(stack: StackThread) -> None:
    """`$disconnect` is best effort on AWS: a record without a live connection must go on the first 410."""
    stale_id = "c3RhbGVjb25uZWN0="
    stack_store(stack).add(Connection(stale_id, "ghost", 1))
    assert stale_id in stored_connection_ids(stack)

    async def main() -> None:
        async with await open_socket(ws_url(stack, "alice")) as alice:
            await alice.send(json.dumps({"action": "broadcast", "message": "roll call"}))
            await recv_json(alice)
            await asyncio.sleep(QUIET_S)
        assert stale_id not in stored_connection_ids(stack)

    run(main())


def test_handler_log_lines_and_access_log_lines_reach_cloudwatch_in_moto(stack: StackThread) -> None:
    async def main() -> None:
        async with await open_socket(ws_url(stack, "logger")) as socket:
            connection_id = (await whoami(socket))["connectionId"]
        await asyncio.sleep(1.0)  # shipped in batches every 200 ms
        logs = aws(stack, "logs")
        handler_lines = [
            e["message"] for e in logs.filter_log_events(logGroupName=stack.outputs["lambda_log_group"])["events"]
        ]
        assert any(line.startswith("START RequestId: ") for line in handler_lines)
        structured = [json.loads(line) for line in handler_lines if line.startswith("{")]
        assert any(entry.get("connectionId") == connection_id for entry in structured)
        access = [
            json.loads(e["message"])
            for e in logs.filter_log_events(logGroupName=stack.outputs["api_log_group"])["events"]
        ]
        mine = [entry for entry in access if entry["connectionId"] == connection_id]
        assert [entry["eventType"] for entry in mine] == ["CONNECT", "MESSAGE", "DISCONNECT"]
        assert [entry["status"] for entry in mine] == [200, 200, 200]
        assert mine[1]["routeKey"] == "whoami"

    run(main())


def test_frames_past_a_connections_burst_are_refused_rate_limited_and_reach_no_one() -> None:
    # No token comes back within the test (one per 100 s): exactly the burst passes, however the frames interleave.
    settings = stack_settings(
        handler="lambda_src.app.handler", code_dir=None, workers=2, message_rate_per_s=0.01, message_burst=3
    )
    with running_stack(settings) as limited:
        url = limited.outputs["websocket_url"]

        async def main() -> None:
            async with await open_socket(f"{url}?name=alice") as alice, await open_socket(f"{url}?name=bob") as bob:
                frames = [json.dumps({"action": "broadcast", "message": n, "echo": False}) for n in range(6)]
                await asyncio.gather(*(alice.send(frame) for frame in frames))
                refusals = [await recv_json(alice) for _ in range(3)]
                received = [await recv_json(bob) for _ in range(3)]
                assert {(f["type"], f["code"]) for f in refusals} == {("error", "rate_limited")}
                assert len({f["message"] for f in received}) == 3 and all(f["type"] == "message" for f in received)
                assert "at most 3 at once" in refusals[0]["error"]
                # bob's own bucket is full: his whoami passes, and nothing else was queued for him before it.
                assert (await whoami(bob))["type"] == "whoami"

        run(main())
