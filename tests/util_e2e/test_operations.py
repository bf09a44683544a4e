"""Operations against a running `util local up` of its own: the function's EMF metrics read back with
`util stats`, the live connections with `util connections`, one of them closed with `util kick`.

A stack of its own, not the package's: `util stats` sums every fan-out in its window, and the package's other
tests broadcast too.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from websockets.exceptions import ConnectionClosed

from lambda_src.observability.metrics import NAMESPACE, Metric, Source
from lambda_src.store.contract import Connection, ConnectionStore
from tests.reliability.clients import Client, close_clients, open_clients, recv_frame
from tests.stack_harness import LocalUp
from tests.util.conftest import Result, run_util
from util.local.aws.resources import store_for_outputs

from .local_up import start_local_up, stop_local_up_process

pytestmark = [pytest.mark.stack, pytest.mark.timeout(240)]

LIVE = 15
DEAD = 5
ROOM = "ops"
IN_ROOM = 3
WAIT_TIMEOUT_S = 20.0
"""Bound of each wait for an event (a 410, a $disconnect, metrics shipped every 0.2 s)."""
POLL_S = 0.2
ASYNC_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    up = start_local_up(tmp_path_factory.mktemp("ops-stack"))
    try:
        yield up
    finally:
        stop_local_up_process(up.process)


def util(stack: LocalUp, *args: str) -> Result:
    result = run_util(list(args), stack.env)
    assert result.code == 0, result.stderr
    return result


def store(stack: LocalUp) -> ConnectionStore:
    return store_for_outputs(stack.outputs)


def management(stack: LocalUp) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name=stack.outputs["region"],
        **stack.credentials.client_kwargs(),
    )


def wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL_S)


def is_gone(api: Any, connection_id: str) -> bool:
    try:
        api.get_connection(ConnectionId=connection_id)
    except api.exceptions.GoneException:
        return True
    return False


def kill_abruptly(stack: LocalUp, count: int) -> list[Connection]:
    """`count` clients in a child process killed with SIGKILL (no close frame); returns their store records as
    they were, once API Gateway (the emulator) knows them gone and their `$disconnect` has run."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.doomed_clients", stack.outputs["websocket_url"], str(count)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None
        dead_ids: list[str] = json.loads(child.stdout.readline())
        records = [store(stack).get(cid) for cid in dead_ids]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    api = management(stack)
    wait_until(lambda: all(is_gone(api, cid) for cid in dead_ids), "the dead connections to be gone")
    wait_until(lambda: not set(dead_ids) & set(store(stack).connection_ids()), "their $disconnect")
    assert all(record is not None for record in records)
    return [record for record in records if record is not None]


def restore(stack: LocalUp, records: list[Connection]) -> None:
    for record in records:
        store(stack).add(record)


def stats(stack: LocalUp) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(util(stack, "stats", "--json", "--since", "10m").stdout)
    return document


def broadcast_counts(document: dict[str, Any]) -> dict[str, float]:
    return {
        series["metric"]: series["value"]
        for series in document["series"]
        if series["dimensions"] == {"Source": Source.BROADCAST.value}
    }


def test_broadcast_to_15_live_and_5_dead_shows_in_stats_connections_lists_the_live_and_kick_closes_one(
    stack: LocalUp,
) -> None:
    async def open_live() -> list[Client]:
        live = await open_clients(stack.outputs["websocket_url"], LIVE, "live")
        for client in live[:IN_ROOM]:
            await client.socket.send(json.dumps({"action": "join", "room": ROOM}))
            # An earlier join's presence fan-out may list the room after this client is in it, so a presence
            # frame can come before this client's own `joined`.
            assert (await not_presence(client))["type"] == "joined"
        return live

    async def not_presence(client: Client) -> Any:
        # The room's earlier members were told of each later join (presence frames) before the roll call.
        while (frame := await recv_frame(client.socket)).get("type") == "presence":
            continue
        return frame

    async def broadcast(live: list[Client]) -> list[Any]:
        await live[0].socket.send(json.dumps({"action": "broadcast", "message": "roll call"}))
        return list(await asyncio.gather(*(not_presence(c) for c in live)))

    async def closed(client: Client) -> int | None:
        with pytest.raises(ConnectionClosed):
            while True:
                await recv_frame(client.socket)
        return client.socket.close_code

    async def main() -> None:
        live = await open_live()
        try:
            dead = await asyncio.to_thread(kill_abruptly, stack, DEAD)
            # Their records back, as when a client died and its `$disconnect` has not run yet: the broadcast's
            # posts to them get 410 Gone, deterministically.
            await asyncio.to_thread(restore, stack, dead)
            frames = await broadcast(live)
            assert [frame["message"] for frame in frames] == ["roll call"] * LIVE

            # util stats: the broadcast's fan-out, from the EMF line the function wrote, via moto's CloudWatch.
            recipients = Metric.RECIPIENTS.value
            await asyncio.to_thread(
                wait_until, lambda: broadcast_counts(stats(stack)).get(recipients) == LIVE + DEAD, "the metrics"
            )
            document = await asyncio.to_thread(stats, stack)
            assert document["namespace"] == NAMESPACE
            counts = broadcast_counts(document)
            assert counts[Metric.DELIVERED.value] == LIVE
            assert counts[Metric.GONE.value] == DEAD
            assert counts[Metric.FAILED.value] == 0
            assert document["totals"][Metric.CONNECTS.value] == LIVE + DEAD

            # util connections: the live ones with their rooms (the gone ones were pruned by the broadcast).
            listed = json.loads((await asyncio.to_thread(util, stack, "connections", "--json")).stdout)
            assert {c["connectionId"] for c in listed} == {c.connection_id for c in live}
            by_id = {c["connectionId"]: c for c in listed}
            for index, client in enumerate(live):
                entry = by_id[client.connection_id]
                assert entry["name"] == client.name
                assert entry["rooms"] == ([ROOM] if index < IN_ROOM else [])
                assert entry["connectedAt"] is not None and entry["lastActiveAt"] is not None
            in_room = json.loads((await asyncio.to_thread(util, stack, "connections", "--json", "--room", ROOM)).stdout)
            assert {c["connectionId"] for c in in_room} == {c.connection_id for c in live[:IN_ROOM]}

            # util kick: the client sees the close, and the listing no longer has it.
            kicked = live[1]
            watcher = asyncio.create_task(closed(kicked))
            await asyncio.to_thread(util, stack, "kick", kicked.connection_id)
            assert await asyncio.wait_for(watcher, WAIT_TIMEOUT_S) == 1000
            listed = json.loads((await asyncio.to_thread(util, stack, "connections", "--json")).stdout)
            assert {c["connectionId"] for c in listed} == {c.connection_id for c in live} - {kicked.connection_id}
        finally:
            await close_clients(live)

    asyncio.run(asyncio.wait_for(main(), ASYNC_TIMEOUT_S * 3))


def test_kick_of_an_unknown_connection_fails_in_one_line(stack: LocalUp) -> None:
    result = run_util(["kick", "bm90LWEtY29ubmVjdGlvbg="], stack.env)
    assert result.code == 1
    assert result.stderr.strip().splitlines() == [
        "error: connection bm90LWEtY29ubmVjdGlvbg= is not connected (and is no longer in the store)"
    ]
