"""A broadcast to everyone split into segment shards in the local stack, on both stores: the real handler lists a
sample, invokes itself once per segment (`wspush.segment` events through the stack's Invoke API), each worker
lists its own segment of the store, and every client gets the frame exactly once. A room's broadcast keeps id-list
shards. The 10,000-client version is `bench.fanout --segments-check` (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from lambda_src.store.open import StoreKind
from tests import strict_json
from util.local.stack import StackThread

from .conftest import STORE_IDS, function_log_lines, open_socket, recv_json, run, running_stack, sharded_stack_settings

pytestmark = pytest.mark.timeout(240)

CLIENTS = 60
SHARD_SIZE = 10
ROOM = "segments"
LOG_WAIT_S = 30.0
QUIET_S = 1.0
"""After every client has the frame: long enough for a second copy, already posted, to arrive."""


@pytest.fixture(scope="module", params=tuple(StoreKind), ids=STORE_IDS)
def stack(request: pytest.FixtureRequest) -> Iterator[StackThread]:
    with running_stack(sharded_stack_settings(request.param, SHARD_SIZE, workers=4)) as thread:
        yield thread


async def _fanout_lines(
    stack: StackThread, since_ms: int, recipients: int, origin: str | None = None
) -> list[dict[str, Any]]:
    """The `fanout` lines since `since_ms` (of the fan-out that request `origin` started, if given), once they account
    for `recipients` (the stack ships logs in batches)."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        lines = [
            line
            for line in function_log_lines(stack, since_ms, "fanout")
            if origin is None or origin in (line.get("origin"), line["requestId"])
        ]
        if sum(line["recipients"] for line in lines) >= recipients or time.monotonic() > deadline:
            return lines
        await asyncio.sleep(0.3)


async def _not_presence(socket: ClientConnection) -> Any:
    """The next frame that is not a presence frame (joins announce themselves to the room's members)."""
    while (frame := await recv_json(socket, timeout_s=60))["type"] == "presence":
        continue
    return frame


async def _exactly_once(sockets: list[ClientConnection], message: object) -> None:
    frames = await asyncio.gather(*(_not_presence(s) for s in sockets))
    assert [f["message"] for f in frames] == [message] * len(sockets)
    await asyncio.sleep(QUIET_S)
    pending = await asyncio.gather(*(_next_frame_or_none(s) for s in sockets))
    assert [frame for frame in pending if frame is not None and strict_json.loads(frame)["type"] != "presence"] == []


async def _next_frame_or_none(socket: ClientConnection) -> Any:
    try:
        return await asyncio.wait_for(socket.recv(), 0.1)
    except TimeoutError:
        return None


async def _connect_all(url: str) -> list[ClientConnection]:
    return list(await asyncio.gather(*(open_socket(f"{url}?name=c{i}") for i in range(CLIENTS))))


def test_broadcast_to_everyone_is_listed_by_segment_shards_and_delivered_once(stack: StackThread) -> None:
    async def main() -> None:
        sockets = await _connect_all(stack.outputs["websocket_url"])
        try:
            since_ms = int(time.time() * 1000) - 1000
            await sockets[0].send(json.dumps({"action": "broadcast", "message": {"n": 1}}))
            await _exactly_once(sockets, {"n": 1})

            fanouts = await _fanout_lines(stack, since_ms, CLIENTS)
            [segmented] = function_log_lines(stack, since_ms, "segmented")
            segments = segmented["segments"]
            assert segments >= 2
            assert (segmented["invoked"], segmented["keptLocally"]) == (segments, 0)
            by_segment = [line for line in fanouts if "segment" in line]
            assert sorted({line["segment"] for line in by_segment}) == list(range(segments))
            assert {(line["segments"], line["origin"]) for line in by_segment} == {(segments, segmented["requestId"])}
            # Every segment is listed by an invocation of its own, not by the one that split the broadcast.
            listers = {line["segment"]: line["requestId"] for line in by_segment}
            assert len(set(listers.values())) == segments
            assert segmented["requestId"] not in listers.values()
            assert sum(line["recipients"] for line in fanouts) == CLIENTS
            assert sum(line["delivered"] for line in fanouts) == CLIENTS
            assert max(line["recipients"] for line in fanouts) <= SHARD_SIZE
        finally:
            await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    run(main(), timeout_s=180)


def test_room_broadcast_keeps_id_list_shards(stack: StackThread) -> None:
    async def main() -> None:
        sockets = await _connect_all(stack.outputs["websocket_url"])
        try:
            # Each join also tells the room's other members (presence frames, tested in test_presence_history.py);
            # an earlier join's presence fan-out may reach a later member before its own `joined`.
            for socket in sockets:
                await socket.send(json.dumps({"action": "join", "room": ROOM}))
                assert (await _not_presence(socket))["type"] == "joined"
            since_ms = int(time.time() * 1000) - 1000
            await sockets[0].send(json.dumps({"action": "broadcast", "room": ROOM, "message": {"n": 2}}))
            await _exactly_once(sockets, {"n": 2})

            # The joins' presence frames were sharded too: the broadcast's lines are those of its own request.
            [sharded] = [
                line for line in function_log_lines(stack, since_ms, "sharded") if line["recipients"] == CLIENTS
            ]
            origin = sharded["requestId"]
            fanouts = await _fanout_lines(stack, since_ms, CLIENTS, origin)
            assert (sharded["recipients"], sharded["shards"]) == (CLIENTS, CLIENTS // SHARD_SIZE)
            assert function_log_lines(stack, since_ms, "segmented") == []
            assert not any("segment" in line for line in fanouts)
            assert sum(line["recipients"] for line in fanouts) == CLIENTS
        finally:
            await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    run(main(), timeout_s=180)
