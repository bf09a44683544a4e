"""A swarm of WebSocket clients in a child process: connect thousands, time who received what and when.

The parent (`Swarm`) drives the child (`python -m bench.swarm`) with JSON-line requests:
- `connect`: open `count` more connections, `concurrency` handshakes at a time (0: all at once); replies
  opened, failed (by error), seconds.
- `arm` / `collect`: watch for a frame containing `marker` on every open connection; `collect` waits until all
  have it (or `timeout_s`) and replies received, duplicates, and the monotonic times of the first and last
  receipt. `time.monotonic()` is one system-wide clock on Linux, so the parent can subtract its own publish time.
- `broadcast`: the first connection sends `{"action": "broadcast", ...}` with the marker; replies the seconds
  from that send to the last connection's receipt.
- `echo_lambda`: a connection of its own sends `{"action": "whoami"}` and waits for the Lambda's reply,
  `count` times in sequence.
- `echo_connections`: a connection of its own learns its id (whoami), then `count` times in sequence POSTs
  a frame to `@connections/<its id>` (signed, on a keep-alive connection: the Lambda's own `SignedPoster`) and
  waits until the frame arrives on its WebSocket.
- `status`: nothing but the common fields; `close_all`: close every connection of the swarm.
Every reply carries `open` (connections held) and `cpu_s`, the swarm's CPU time during the request: evidence
of whether the clients limited a figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .children import ChildProcess, raise_open_files_limit, reply_channel, send
from .report import BenchError

if TYPE_CHECKING:
    from .stack_process import StackProcess

CONNECT_TIMEOUT_S = 120.0
CLOSE_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 10.0
CLIENT_NAME = "bench"
SLACK_S = 30.0
GROW_CONCURRENCY = 200
"""Connects in flight at once while a benchmark grows its audience."""
SETTLE_TIMEOUT_S = 300.0
"""Added to a request's own timeout for the parent's wait on the reply."""


class Swarm:
    """The parent's handle on a swarm child process; a context manager that always stops it."""

    def __init__(self, connections_hint: int = 0) -> None:
        raise_open_files_limit(connections_hint)
        self._child = ChildProcess("bench.swarm", name="client swarm")

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._child.stop()

    @property
    def pid(self) -> int:
        return self._child.pid

    def call(self, op: str, timeout_s: float, **fields: Any) -> dict[str, Any]:
        return self._child.request({"op": op, "timeout_s": timeout_s, **fields}, timeout_s + SLACK_S)

    def open_connections(self) -> int:
        return int(self.call("status", REPLY_TIMEOUT_S)["open"])


@dataclass
class _Watch:
    marker: str
    expected: int
    received: int = 0
    duplicates: int = 0
    first: float | None = None
    last: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def hit(self, seen_before: bool) -> None:
        if seen_before:
            self.duplicates += 1
            return
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.received += 1
        if self.received >= self.expected:
            self.done.set()


class _Client:
    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.seen_marker: str | None = None
        self.reader: asyncio.Task[None] | None = None


class _SwarmChild:
    def __init__(self) -> None:
        import aiohttp

        # limit=0: aiohttp's connector would otherwise hold every WebSocket past the 100th in a queue.
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self._clients: list[_Client] = []
        self._watch: _Watch | None = None

    async def close(self) -> None:
        await self._close_all()
        await self._session.close()

    async def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
        if handler is None:
            return {"error": f"unknown op {op!r}"}
        started_cpu = time.process_time()
        reply: dict[str, Any] = await handler(request)
        reply["cpu_s"] = round(time.process_time() - started_cpu, 4)
        reply["open"] = len(self._clients)
        return reply

    # -- connections ---------------------------------------------------------------------------

    async def _open(self, url: str) -> Any:
        import aiohttp

        socket = await self._session.ws_connect(
            f"{url}?name={CLIENT_NAME}",
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S),
        )
        return socket

    async def _read(self, client: _Client) -> None:
        import aiohttp

        socket = client.socket
        async for message in socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            watch = self._watch
            if watch is not None and watch.marker in message.data:
                watch.hit(client.seen_marker == watch.marker)
                client.seen_marker = watch.marker

    async def _op_connect(self, request: dict[str, Any]) -> dict[str, Any]:
        url, count = str(request["url"]), int(request["count"])
        concurrency = int(request.get("concurrency", 0)) or count
        timeout_s = float(request.get("timeout_s", CONNECT_TIMEOUT_S))
        gate = asyncio.Semaphore(concurrency)
        errors: Counter[str] = Counter()

        async def one() -> None:
            async with gate:
                try:
                    socket = await asyncio.wait_for(self._open(url), timeout_s)
                except Exception as error:
                    errors[type(error).__name__] += 1
                    return
            client = _Client(socket)
            client.reader = asyncio.create_task(self._read(client))
            self._clients.append(client)

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(count)))
        seconds = time.monotonic() - started
        return {
            "opened": count - sum(errors.values()),
            "failed": sum(errors.values()),
            "errors": errors,
            "seconds": seconds,
        }

    async def _close_all(self) -> None:
        clients, self._clients = self._clients, []

        async def one(client: _Client) -> None:
            # A close that fails or hangs leaves the socket to the session's own close.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.socket.close(), CLOSE_TIMEOUT_S)
            if client.reader is not None:
                client.reader.cancel()

        await asyncio.gather(*(one(client) for client in clients), return_exceptions=True)

    async def _op_status(self, request: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def _op_close_all(self, request: dict[str, Any]) -> dict[str, Any]:
        count = len(self._clients)
        await self._close_all()
        return {"closed": count}

    # -- deliveries ----------------------------------------------------------------------------

    async def _op_arm(self, request: dict[str, Any]) -> dict[str, Any]:
        self._watch = _Watch(str(request["marker"]), len(self._clients))
        return {"armed": len(self._clients)}

    async def _op_collect(self, request: dict[str, Any]) -> dict[str, Any]:
        watch = self._watch
        if watch is None:
            return {"error": "collect without arm"}
        with contextlib.suppress(TimeoutError):  # a timeout is reported as received < expected
            await asyncio.wait_for(watch.done.wait(), float(request["timeout_s"]))
        self._watch = None
        return {
            "expected": watch.expected,
            "received": watch.received,
            "duplicates": watch.duplicates,
            "first": watch.first,
            "last": watch.last,
        }

    async def _op_broadcast(self, request: dict[str, Any]) -> dict[str, Any]:
        if not self._clients:
            return {"error": "broadcast without connections"}
        marker = str(request["marker"])
        await self._op_arm({"marker": marker})
        frame = json.dumps({"action": "broadcast", "message": {"bench": marker}})
        sent = time.monotonic()
        await self._clients[0].socket.send_str(frame)
        reply = await self._op_collect({"timeout_s": request["timeout_s"]})
        reply["sent"] = sent
        reply["seconds"] = None if reply["last"] is None else reply["last"] - sent
        return reply

    # -- round trips ---------------------------------------------------------------------------

    async def _receive_text(self, socket: Any, timeout_s: float) -> str:
        import aiohttp

        message = await socket.receive(timeout=timeout_s)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"expected a text frame, got {message.type.name}")
        return str(message.data)

    async def _whoami(self, socket: Any) -> str:
        await socket.send_str('{"action":"whoami"}')
        reply = json.loads(await self._receive_text(socket, REPLY_TIMEOUT_S))
        if reply.get("type") != "whoami":
            raise ConnectionError(f"unexpected reply to whoami: {reply}")
        return str(reply["connectionId"])

    async def _op_echo_lambda(self, request: dict[str, Any]) -> dict[str, Any]:
        count = int(request["count"])
        socket = await self._open(str(request["url"]))
        try:
            await self._whoami(socket)  # warm: the first reply may pay for connection setup
            started = time.monotonic()
            for _ in range(count):
                await self._whoami(socket)
            seconds = time.monotonic() - started
        finally:
            await socket.close()
        return {"round_trips": count, "seconds": seconds}

    async def _op_echo_connections(self, request: dict[str, Any]) -> dict[str, Any]:
        from botocore.credentials import Credentials

        from lambda_src.aws.management_api import SignedPoster
        from lambda_src.aws.posting import Outcome
        from util.local.aws.credentials import LocalCredentials

        count = int(request["count"])
        socket = await self._open(str(request["url"]))
        try:
            connection_id = await self._whoami(socket)
            local = LocalCredentials.from_state(request["credentials"])
            if local is None:
                raise ValueError("echo_connections needs the stack's credentials")
            credentials = Credentials(local.access_key_id, local.secret_access_key, local.session_token)
            poster = SignedPoster(str(request["connections_url"]), credentials, "us-east-1")
            frame = b'{"bench":"echo"}'
            # The poster blocks; the frame waits in the socket buffer until the POST's answer is read.
            poster.post(connection_id, frame)
            await self._receive_text(socket, REPLY_TIMEOUT_S)
            failed = 0
            started = time.monotonic()
            for _ in range(count):
                if poster.post(connection_id, frame).outcome is not Outcome.DELIVERED:
                    failed += 1
                    continue
                await self._receive_text(socket, REPLY_TIMEOUT_S)
            seconds = time.monotonic() - started
        finally:
            await socket.close()
        return {"round_trips": count - failed, "failed": failed, "seconds": seconds}


async def _serve(channel: IO[bytes]) -> None:
    child = _SwarmChild()
    try:
        while line := await asyncio.to_thread(sys.stdin.buffer.readline):
            try:
                request = json.loads(line)
                reply = await child.handle(request)
            except Exception as error:
                reply = {"error": f"{type(error).__name__}: {error}"}
            send(channel, reply)
    finally:
        await child.close()


def main() -> None:
    channel = reply_channel()
    asyncio.run(_serve(channel))


if __name__ == "__main__":
    main()


def grow(stack: StackProcess, swarm: Swarm, target: int, concurrency: int = GROW_CONCURRENCY) -> None:
    """Open connections until the swarm holds `target` (the store must agree: it is what a broadcast reads),
    `concurrency` at a time (fewer on a loaded machine, where queued `$connect`s meet API Gateway's 29 s)."""
    missing = target - swarm.open_connections()
    if missing > 0:
        opened = swarm.call(
            "connect",
            SLACK_S + missing * 0.05,
            url=stack.outputs["websocket_url"],
            count=missing,
            concurrency=concurrency,
        )
        if opened["failed"]:
            raise BenchError(f"{opened['failed']} of {missing} connections failed while growing: {opened['errors']}")
    stack.wait_for_stored(target, SETTLE_TIMEOUT_S)
