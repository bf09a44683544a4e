"""A broadcast through the real handler against a local stack whose `@connections` quota is low
(`--connections-rate`): the shards answered 429 slow down and post again, every client gets the frame exactly
once, and the fan-out summaries count the 429s they met."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from util.local.stack import StackThread

from .conftest import function_log_lines, open_socket, recv_json, run, running_stack, stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

CLIENTS = 240
SHARD_SIZE = 80
RATE_PER_S = 100.0
"""Three or more shards sharing 100 posts a second (burst 50): most of 240 posts meet the quota."""
LOG_WAIT_S = 30.0


@pytest.fixture(scope="module")
def stack() -> Iterator[StackThread]:
    settings = stack_settings(
        handler="lambda_src.app.handler",
        code_dir=None,
        workers=3,
        connections_rate=RATE_PER_S,
        function_environment={"SHARD_SIZE": str(SHARD_SIZE)},
    )
    with running_stack(settings) as thread:
        yield thread


async def _next_frame_or_none(socket: ClientConnection) -> Any:
    try:
        return await asyncio.wait_for(socket.recv(), 0.2)
    except TimeoutError:
        return None


def test_a_throttled_broadcast_reaches_every_client_exactly_once_and_reports_the_429s(stack: StackThread) -> None:
    async def main() -> None:
        url = stack.outputs["websocket_url"]
        sockets: list[ClientConnection] = []
        try:
            for start in range(0, CLIENTS, 60):
                batch = range(start, min(start + 60, CLIENTS))
                sockets.extend(await asyncio.gather(*(open_socket(f"{url}?name=c{i}") for i in batch)))
            since_ms = int(time.time() * 1000) - 1000
            await sockets[0].send(json.dumps({"action": "broadcast", "message": {"n": 1}}))
            frames = await asyncio.gather(*(recv_json(s, timeout_s=60) for s in sockets))
            assert all(f["type"] == "message" and f["message"] == {"n": 1} for f in frames)
            await asyncio.sleep(1.0)  # a second copy would be queued behind the first by now
            pending = await asyncio.gather(*(_next_frame_or_none(s) for s in sockets))
            assert [frame for frame in pending if frame is not None] == []

            deadline = time.monotonic() + LOG_WAIT_S
            summaries = function_log_lines(stack, since_ms, "fanout")
            while sum(s["delivered"] for s in summaries) < CLIENTS and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                summaries = function_log_lines(stack, since_ms, "fanout")
            # A broadcast to everyone is split into segments of about 80% of SHARD_SIZE
            # (lambda_src/delivery/segments.py).
            # A segment paced down far enough meets its deadline and hands the rest to a continuation, whose line
            # counts those recipients again: the first lines hold every recipient once, and nothing is dropped.
            first = [s for s in summaries if "continuation" not in s]
            assert len(first) >= CLIENTS // SHARD_SIZE
            assert sum(s["recipients"] for s in first) == CLIENTS
            assert sum(s["delivered"] for s in summaries) == CLIENTS
            assert sum(s["failed"] for s in summaries) == 0
            assert [s["continued"] for s in summaries] == [s["unfinished"] for s in summaries]
            # 240 posts against a 50-request burst refilled at 100 per second: the quota answered 429s.
            assert sum(s["throttled"] for s in summaries) > 0
            assert all(s["postsPerS"] > 0 for s in summaries)
        finally:
            await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    run(main(), timeout_s=200)
