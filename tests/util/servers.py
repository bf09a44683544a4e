"""Real WebSocket servers for the `util connect` tests, each running its own event loop in a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from http import HTTPStatus
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from aiohttp import WSMsgType, web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

START_TIMEOUT_S = 10
STOP_TIMEOUT_S = 10
REJECTED_TOKEN = "bad"
REFUSAL_BODY = '{"type": "error", "code": "unauthorized", "error": "a valid token is required"}'
"""What the service's $connect answers a bad token with (lambda_src/handlers/connection.py)."""

Behaviour = Callable[["WebSocketServer", ServerConnection, int], Awaitable[None]]
"""What the server does with its n-th connection (counting from 0)."""


class _LoopThread:
    """An event loop in a daemon thread, started and stopped by a context manager."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coroutine: Awaitable[object], timeout_s: float) -> object:
        future: Future[object] = asyncio.run_coroutine_threadsafe(_wrap(coroutine), self.loop)
        return future.result(timeout=timeout_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=STOP_TIMEOUT_S)
        self.loop.close()


async def _wrap(coroutine: Awaitable[object]) -> object:
    return await coroutine


class WebSocketServer:
    """A `websockets` server on 127.0.0.1 that records what clients did; `behaviour` decides what it does."""

    def __init__(self, behaviour: Behaviour, failing_handshakes: int = 0, fail_after: int = 0) -> None:
        self.behaviour = behaviour
        self.failing_handshakes = failing_handshakes
        """This many handshakes are answered 500, as a gateway whose $connect crashed..."""
        self.fail_after = fail_after
        """...once this many connections have been accepted."""
        self.received: list[str | bytes] = []
        self.queries: list[dict[str, list[str]]] = []
        self.connections = 0
        self.rejected = 0
        self._loop = _LoopThread()
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/live"

    def __enter__(self) -> WebSocketServer:
        self._loop.start()
        self._loop.run(self._start(), START_TIMEOUT_S)
        return self

    async def _start(self) -> None:
        # serve() needs the running loop of the thread, so it is created in there.
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check_token)
        self.port = self._server.sockets[0].getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            self._loop.run(self._server.wait_closed(), STOP_TIMEOUT_S)
        self._loop.stop()

    def _check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        query = parse_qs(urlsplit(request.path).query)
        if self.failing_handshakes > 0 and self.connections >= self.fail_after:
            self.failing_handshakes -= 1
            return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error\n")
        if query.get("token") == [REJECTED_TOKEN]:
            self.rejected += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, REFUSAL_BODY)
        self.queries.append(query)
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        await self.behaviour(self, connection, index)


async def echo(server: WebSocketServer, connection: ServerConnection, index: int) -> None:
    """Answers every frame with {"echo": frame}; records the frames."""
    async for message in connection:
        server.received.append(message)
        await connection.send(f'{{"echo": {_json_string(message)}}}')


def _json_string(message: str | bytes) -> str:
    return json.dumps(message if isinstance(message, str) else message.decode())


class PingCountingServer:
    """An aiohttp WebSocket server that does not answer pings by itself, so it can count them."""

    def __init__(self) -> None:
        self.pings = 0
        self._loop = _LoopThread()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/live"

    def __enter__(self) -> PingCountingServer:
        self._loop.start()
        self._loop.run(self._start(), START_TIMEOUT_S)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is not None:
            self._loop.run(self._runner.cleanup(), STOP_TIMEOUT_S)
        self._loop.stop()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/live", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse(autoping=False)
        await websocket.prepare(request)
        async for message in websocket:
            if message.type == WSMsgType.PING:
                self.pings += 1
                await websocket.pong(message.data)
                await websocket.send_str(f'{{"pings": {self.pings}}}')
        return websocket
