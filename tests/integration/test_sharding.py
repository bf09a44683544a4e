"""A broadcast to thousands of clients spread over shard invocations of the real handler in the local stack:
the Lambda invokes itself (`InvocationType=Event`) through the stack's Invoke API, one invocation per segment of
the store (a broadcast to everyone splits its listing: lambda_src/delivery/segments.py), shards run in parallel worker
processes, every client gets the frame exactly once, gone ids are pruned in whichever shard lists them.

Size: SHARDING_CLIENTS (CI: 2000) and SHARDING_SHARD_SIZE (CI: 500); the full run is 5000 and 1000."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from lambda_src.store.contract import Connection
from lambda_src.store.open import StoreKind
from util.local.stack import StackThread

from .conftest import (
    STORE_IDS,
    function_log_lines,
    open_socket,
    recv_json,
    run,
    running_stack,
    sharded_stack_settings,
    stack_store,
)

pytestmark = pytest.mark.timeout(300)

CLIENTS = int(os.environ.get("SHARDING_CLIENTS", "2000"))
SHARD_SIZE = int(os.environ.get("SHARDING_SHARD_SIZE", "500"))
CONNECT_BATCH = 100
STALE_IDS = ("+stale0AAAAAAAAA=", "Mstale0AAAAAAAAA=", "zstale0AAAAAAAAA=")
"""Stored connections without a live socket (their $disconnect was lost): the gateway answers 410 for them.
Their first characters spread them over the listing, so different shards meet them."""
LOG_WAIT_S = 30.0


@pytest.fixture(scope="module", params=tuple(StoreKind), ids=STORE_IDS)
def stack(request: pytest.FixtureRequest) -> Iterator[StackThread]:
    with running_stack(sharded_stack_settings(request.param, SHARD_SIZE, workers=6)) as thread:
        yield thread


def _plant_stale_records(stack: StackThread) -> None:
    store = stack_store(stack)
    for stale in STALE_IDS:
        store.add(Connection(stale, "stale", 0))


def _stored_ids(stack: StackThread) -> set[str]:
    return set(stack_store(stack).connection_ids())


async def _connect_all(url: str) -> list[ClientConnection]:
    sockets: list[ClientConnection] = []
    for start in range(0, CLIENTS, CONNECT_BATCH):
        batch = range(start, min(start + CONNECT_BATCH, CLIENTS))
        sockets.extend(await asyncio.gather(*(open_socket(f"{url}?name=c{i}") for i in batch)))
    return sockets


def test_broadcast_to_thousands_is_sharded_delivered_once_and_prunes_gone_ids(stack: StackThread) -> None:
    recipients = CLIENTS + len(STALE_IDS)

    async def main() -> None:
        sockets = await _connect_all(stack.outputs["websocket_url"])
        try:
            _plant_stale_records(stack)
            since_ms = int(time.time() * 1000) - 1000
            await sockets[0].send(json.dumps({"action": "broadcast", "message": {"n": 1}}))
            frames = await asyncio.gather(*(recv_json(s, timeout_s=60) for s in sockets))
            assert all(f["type"] == "message" and f["message"] == {"n": 1} for f in frames)
            # Exactly once: a second frame would already be queued behind the first by now.
            await asyncio.sleep(1.0)
            pending = await asyncio.gather(*(_next_frame_or_none(s) for s in sockets))
            assert [frame for frame in pending if frame is not None] == []

            deadline = time.monotonic() + LOG_WAIT_S
            summaries = function_log_lines(stack, since_ms, "fanout")
            while sum(s["recipients"] for s in summaries) < recipients and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                summaries = function_log_lines(stack, since_ms, "fanout")
            [segmented] = function_log_lines(stack, since_ms, "segmented")
            segments = segmented["segments"]
            assert segmented["invoked"] == segments
            by_segment = [s for s in summaries if "segment" in s]
            assert sorted({s["segment"] for s in by_segment}) == list(range(segments))
            assert {s["origin"] for s in by_segment} == {segmented["requestId"]}
            assert max(s["recipients"] for s in summaries) <= SHARD_SIZE
            assert sum(s["recipients"] for s in summaries) == recipients
            assert sum(s["delivered"] for s in summaries) == CLIENTS
            assert sum(s["gone"] for s in summaries) == len(STALE_IDS)
            stored = _stored_ids(stack)
            assert len(stored) == CLIENTS
            assert not any("stale" in key for key in stored)
        finally:
            await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)

    run(main(), timeout_s=240)


async def _next_frame_or_none(socket: ClientConnection) -> Any:
    try:
        return await asyncio.wait_for(socket.recv(), 0.2)
    except TimeoutError:
        return None
