"""A client that stops reading costs only itself: broadcasts go on for everyone else, it is cut off and pruned.

Found by this suite: the local gateway made a post wait until the client's socket took the frame, so one
client that stopped reading stalled every broadcast until the function timed out (and the recipients after
it lost the frame). API Gateway answers a post without waiting for the client to read.
"""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from tests import strict_json

from .clients import Client, client_url, close_clients, open_clients, run, sync
from .conftest import TOKEN, require_empty_store
from .moto_state import failures, fanout_summaries, log_lines, now_ms, structured, wait_for_store
from .stack_process import StackProcess

pytestmark = pytest.mark.timeout(180)

BROADCASTS = 60
PAD_CHARS = 120_000
"""Near the 128 KB message limit: 60 of them (7 MB) overflow every buffer between the gateway and a stalled client."""
FRAGMENT_CHARS = 30_000
"""A client's frames are at most 32 KB: a long message goes in fragments."""
STALLED_QUEUE_FRAMES = 1
"""The stalled client's frame queue: once it holds one unread frame, its library stops reading the socket."""
CLOSE_TIMEOUT_S = 1.0
"""The stalled client's own close: the server already hung up on it, there is no handshake to wait for."""
TEST_TIMEOUT_S = 120.0
PRUNE_TIMEOUT_S = 30.0


def test_a_client_that_stops_reading_is_cut_off_and_slows_nobody_else(stack: StackProcess) -> None:
    require_empty_store(stack)
    started_ms = now_ms()

    async def main() -> tuple[str, list[list[int]], set[str]]:
        # No keepalive pings either: a frozen app does not answer them, and the library would hang up by itself.
        url = client_url(stack.websocket_url, "stalled", TOKEN)
        socket = await connect(url, max_queue=STALLED_QUEUE_FRAMES, ping_interval=None, close_timeout=CLOSE_TIMEOUT_S)
        await socket.send(json.dumps({"action": "whoami"}))
        stalled = Client(socket, strict_json.loads(await socket.recv())["connectionId"], "stalled")
        readers = await open_clients(stack.websocket_url, 2, "reader", TOKEN)
        try:
            sender = readers[0]
            pad = "y" * PAD_CHARS
            for seq in range(BROADCASTS):
                text = json.dumps({"action": "broadcast", "message": {"seq": seq, "pad": pad}})
                await sender.socket.send([text[i : i + FRAGMENT_CHARS] for i in range(0, len(text), FRAGMENT_CHARS)])
            received = [await sync(sender, TEST_TIMEOUT_S), await sync(readers[1], TEST_TIMEOUT_S)]
            stored = wait_for_store(stack.outputs, {c.connection_id for c in readers}, PRUNE_TIMEOUT_S)
            return stalled.connection_id, [[frame["message"]["seq"] for frame in frames] for frames in received], stored
        finally:
            await close_clients([*readers, stalled])

    stalled_id, seqs, stored = run(main(), TEST_TIMEOUT_S)

    assert seqs == [list(range(BROADCASTS))] * 2
    assert len(stored) == 2 and stalled_id not in stored
    lines = log_lines(stack.outputs, "lambda_log_group", started_ms)
    assert failures(lines) == []
    summaries = fanout_summaries(lines)
    assert len(summaries) == BROADCASTS
    assert {s["failed"] for s in summaries} == {0}
    assert sum(s["gone"] for s in summaries) == 1  # the stalled client, once: then it was out of the store
    [disconnected] = [
        e for e in structured(lines) if e["message"] == "disconnected" and e["connectionId"] == stalled_id
    ]
    assert (disconnected["disconnectStatusCode"], disconnected["disconnectReason"]) == (1008, "Slow client")
