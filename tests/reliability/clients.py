"""Real WebSocket clients (the `websockets` library) against a running stack, many at a time.

`sync` is the tests' barrier: a direct message to oneself, marked with a fresh token. The gateway runs one
connection's messages one at a time and in order, and an invocation returns only after its posts were
answered, so every frame that the client's earlier messages caused, to anyone, was written before its
marker was. So: sync the senders first (their fan-outs are then over), then anyone else; what arrived
before a client's marker is then all it will ever get from those messages.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect

from tests import strict_json

RECEIVE_TIMEOUT_S = 20.0
"""One frame's wait; generous because at full size a client's frame may queue behind thousands of posts."""
CONNECT_CONCURRENCY = 32
"""Handshakes in flight at once: each is a `$connect` invocation, and the workers are few."""
MAX_QUEUED_FRAMES = 4096
"""Frames a client buffers unread (websockets' default, 16, would stall the server's posts at load)."""


@dataclass
class Client:
    socket: ClientConnection
    connection_id: str
    name: str


def client_url(websocket_url: str, name: str, token: str | None = None) -> str:
    query = {"name": name} | ({"token": token} if token is not None else {})
    return f"{websocket_url}?{urlencode(query)}"


async def recv_frame(socket: ClientConnection, timeout_s: float = RECEIVE_TIMEOUT_S) -> Any:
    """The next frame, parsed strictly (`NaN` or a lone surrogate escape raises, as in a browser it would)."""
    data = await asyncio.wait_for(socket.recv(), timeout_s)
    try:
        return strict_json.loads(data)
    except RecursionError:
        # Nested nearly as deep as the handler could parse, but this stack (pytest, hypothesis, asyncio) is
        # deeper than the handler's: a fresh thread's shallow stack parses it.
        return await asyncio.to_thread(strict_json.loads, data)


async def open_client(websocket_url: str, name: str, token: str | None = None) -> Client:
    socket = await asyncio.wait_for(
        connect(client_url(websocket_url, name, token), open_timeout=RECEIVE_TIMEOUT_S, max_queue=MAX_QUEUED_FRAMES),
        RECEIVE_TIMEOUT_S,
    )
    await socket.send(json.dumps({"action": "whoami"}))
    reply = await recv_frame(socket)
    return Client(socket, reply["connectionId"], name)


async def open_clients(websocket_url: str, count: int, prefix: str, token: str | None = None) -> list[Client]:
    """`count` clients named PREFIX-0, PREFIX-1, ...; all or none (the opened ones are closed on failure)."""
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(index: int) -> Client:
        async with limit:
            return await open_client(websocket_url, f"{prefix}-{index}", token)

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    clients = [r for r in results if isinstance(r, Client)]
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        await close_clients(clients)
        raise errors[0]
    return clients


async def close_clients(clients: Iterable[Client]) -> None:
    await asyncio.gather(*(c.socket.close() for c in clients), return_exceptions=True)


async def sync(client: Client, timeout_s: float = RECEIVE_TIMEOUT_S) -> list[Any]:
    """Every frame that reached `client` before now (see the module's docstring), parsed as JSON."""
    marker = f"sync-{secrets.token_hex(8)}"
    await client.socket.send(json.dumps({"action": "send", "to": client.connection_id, "message": marker}))
    frames: list[Any] = []
    while True:
        frame = await recv_frame(client.socket, timeout_s)
        if isinstance(frame, dict) and frame.get("type") == "direct" and frame.get("message") == marker:
            return frames
        frames.append(frame)


async def sync_all(clients: Sequence[Client], timeout_s: float = RECEIVE_TIMEOUT_S) -> list[list[Any]]:
    return list(await asyncio.gather(*(sync(c, timeout_s) for c in clients)))


def run(coroutine: Any, timeout_s: float) -> Any:
    """Run an async test body on a fresh event loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))
