"""Load: every client broadcasts at once; every client receives every message exactly once, each sender's in order.

CI: 40 clients x 5 messages (8,000 deliveries); `RELIABILITY_SCALE=full`: 200 x 5 (200,000 deliveries).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from typing import Any

import pytest

from .clients import Client, close_clients, open_clients, recv_frame, run, sync_all
from .conftest import TOKEN, require_empty_store
from .moto_state import failures, fanout_summaries, log_lines, now_ms
from .scale import SIZES
from .stack_process import StackProcess

pytestmark = pytest.mark.timeout(SIZES.timeout_s + 60)

DELIVERY_TIMEOUT_S = SIZES.timeout_s


async def broadcast_all(client: Client, count: int) -> None:
    """Send `count` broadcasts back to back, without waiting for anything in between."""
    for seq in range(count):
        await client.socket.send(json.dumps({"action": "broadcast", "message": {"seq": seq, "sender": client.name}}))


async def receive(client: Client, expected: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    while len(frames) < expected:
        frames.append(await recv_frame(client.socket, DELIVERY_TIMEOUT_S))
    return frames


def test_every_client_receives_every_broadcast_once_and_each_senders_in_order(stack: StackProcess) -> None:
    clients_n, messages_n = SIZES.load_clients, SIZES.load_messages
    require_empty_store(stack)
    started_ms = now_ms()

    async def main() -> tuple[list[list[dict[str, Any]]], list[list[Any]], float, dict[str, str]]:
        clients = await open_clients(stack.websocket_url, clients_n, "load", TOKEN)
        try:
            ids = {c.name: c.connection_id for c in clients}
            receivers = [asyncio.create_task(receive(c, clients_n * messages_n)) for c in clients]
            began = time.perf_counter()
            await asyncio.gather(*(broadcast_all(c, messages_n) for c in clients))
            received = await asyncio.gather(*receivers)
            elapsed_s = time.perf_counter() - began
            # Nothing beyond the expected frames: after one round of markers every fan-out is over, so the second
            # round finds anything still on its way too.
            first = await sync_all(clients)
            extra = [a + b for a, b in zip(first, await sync_all(clients), strict=True)]
            return received, extra, elapsed_s, ids
        finally:
            await close_clients(clients)

    received, extra, elapsed_s, ids = run(main(), SIZES.timeout_s)

    expected_order = list(range(messages_n))
    for frames in received:
        by_sender: dict[str, list[int]] = defaultdict(list)
        for frame in frames:
            assert frame["type"] == "message"
            sender = frame["message"]["sender"]
            assert frame["from"] == {"connectionId": ids[sender], "name": sender}
            by_sender[sender].append(frame["message"]["seq"])
        assert set(by_sender) == set(ids)
        assert all(seqs == expected_order for seqs in by_sender.values())
    assert extra == [[] for _ in range(clients_n)]

    lines = log_lines(stack.outputs, "lambda_log_group", started_ms)
    assert failures(lines) == []
    summaries = fanout_summaries(lines)
    assert len(summaries) == clients_n * messages_n
    counts = {(s["recipients"], s["delivered"], s["gone"], s["failed"]) for s in summaries}
    assert counts == {(clients_n, clients_n, 0, 0)}
    deliveries = clients_n * clients_n * messages_n
    print(f"\nload: {clients_n} clients x {messages_n} messages: {deliveries} deliveries in {elapsed_s:.1f} s")
