"""Presence and history end to end (issue 17): the real handler behind the local stack, on either store, driven
by real `websockets` clients. A client that drops abruptly and comes back gets exactly what it missed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from lambda_src.store.open import StoreKind
from util.local.stack import StackThread

from .conftest import STORE_IDS, open_socket, recv_json, run, running_stack, stack_settings

pytestmark = pytest.mark.timeout(180)

PRESENCE_CAP = 2
"""PRESENCE_MAX_MEMBERS of the test stack: a third member makes the room "large"."""


@pytest.fixture(scope="module", params=tuple(StoreKind), ids=STORE_IDS)
def stack(request: pytest.FixtureRequest) -> Iterator[StackThread]:
    settings = stack_settings(
        handler="lambda_src.app.handler",
        code_dir=None,
        workers=2,
        store=request.param,
        function_environment={"PRESENCE_MAX_MEMBERS": str(PRESENCE_CAP)},
    )
    with running_stack(settings) as thread:
        yield thread


async def client(stack: StackThread, name: str) -> ClientConnection:
    return await open_socket(f"{stack.outputs['websocket_url']}?name={name}")


async def request(socket: ClientConnection, body: dict[str, Any]) -> dict[str, Any]:
    await socket.send(json.dumps(body))
    reply: dict[str, Any] = await recv_json(socket)
    return reply


async def next_of_type(socket: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of this type (presence frames may come between a request and its reply)."""
    while True:
        frame: dict[str, Any] = await recv_json(socket)
        if frame.get("type") == kind:
            return frame


def test_a_client_that_drops_abruptly_recovers_exactly_the_messages_it_missed(stack: StackThread) -> None:
    async def body() -> None:
        a, b = await client(stack, "alice"), await client(stack, "bob")
        assert await request(a, {"action": "join", "room": "r"}) == {"type": "joined", "room": "r"}
        assert await request(b, {"action": "join", "room": "r"}) == {"type": "joined", "room": "r"}
        joined = await next_of_type(a, "presence")
        await a.send(json.dumps({"action": "broadcast", "room": "r", "message": "before", "echo": False}))
        seen = await next_of_type(b, "message")
        b_id = (await request(b, {"action": "whoami"}))["connectionId"]

        members = await request(a, {"action": "members", "room": "r"})
        b.transport.abort()  # no close frame: the gateway notices the lost TCP connection and runs $disconnect
        left = await next_of_type(a, "presence")
        sent = []
        for n in range(5):
            await a.send(json.dumps({"action": "broadcast", "room": "r", "message": n}))
            sent.append(await next_of_type(a, "message"))  # the echo: delivered, so in history already

        b = await client(stack, "bob")
        assert await request(b, {"action": "join", "room": "r"}) == {"type": "joined", "room": "r"}
        recovered = await request(b, {"action": "history", "room": "r", "after": seen["id"]})

        assert joined["event"] == "join" and joined["member"]["connectionId"] == b_id and joined["count"] == 2
        assert {m["name"] for m in members["members"]} == {"alice", "bob"}
        assert members["next"] is None
        assert left == {
            "type": "presence",
            "room": "r",
            "event": "leave",
            "member": {"connectionId": b_id, "name": "bob"},
            "count": 1,
        }
        assert recovered == {
            "type": "history",
            "room": "r",
            "messages": [{"id": f["id"], "frame": f} for f in sent],
            "next": None,
        }
        assert [m["frame"]["message"] for m in recovered["messages"]] == [0, 1, 2, 3, 4]
        await a.close()
        await b.close()

    run(body())


def test_above_the_presence_cap_only_counts_are_sent_and_outsiders_read_nothing(stack: StackThread) -> None:
    async def body() -> None:
        a, b, c = [await client(stack, n) for n in ("ann", "ben", "cat")]
        outsider = await client(stack, "eve")
        for socket in (a, b, c):
            assert await request(socket, {"action": "join", "room": "big"}) == {"type": "joined", "room": "big"}
        small = await next_of_type(a, "presence")
        large = await next_of_type(a, "presence")

        refused = await request(outsider, {"action": "history", "room": "big"})
        bad_after = await request(a, {"action": "history", "room": "big", "after": "yesterday"})
        bad_limit = await request(a, {"action": "history", "room": "big", "limit": 0})

        assert small["count"] == 2 and small["member"]["name"] == "ben"
        assert large == {"type": "presence", "room": "big", "event": "join", "count": 3}
        assert refused["type"] == "error" and refused["code"] == "not_in_room"
        assert bad_after["code"] == "invalid_field" and bad_limit["code"] == "invalid_field"
        for socket in (a, b, c, outsider):
            await socket.close()

    run(body())
