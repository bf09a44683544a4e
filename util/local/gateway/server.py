"""The WebSocket side of the API Gateway emulator: handshake, `$connect`, routing, limits, `$disconnect`.

Faithful where code notices: `$connect` runs before the handshake completes and its status decides it; a
message is routed by the API's selection expression (`$default`, else the `Forbidden` frame); a failed
integration answers `Internal server error`, one slower than 29 s `Endpoint request timed out` (the function runs
on); messages over 128 KB and frames over 32 KB close the connection with 1009, a binary frame with 1003; idle
and maximum-duration limits close it with 1001, on timers that no ping can hold off; every close ends in one
`$disconnect`. Each connection's messages are invoked one at a time, in order; connections run in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from lambda_src.observability.clock import now_ms
from util.local import ids
from util.local.gateway.access_log import AccessLogSink, access_line
from util.local.gateway.authorizer import LocalAuthorizer
from util.local.gateway.events import ConnectionFacts, connect_event, disconnect_event, message_event
from util.local.gateway.frames import FrameGuards
from util.local.gateway.registry import ConnectionRegistry, LiveConnection
from util.local.gateway.routing import RouteSelector
from util.local.runtime.pool import InvocationResult, RuntimeStopped
from util.local.settings import StackSettings

LOGGER = logging.getLogger("wspush.local.gateway")

MESSAGE_BACKLOG = 100
"""Messages of one connection waiting for their invocation; beyond that the gateway stops reading (TCP backpressure)."""
CLOSE_HANDSHAKE_TIMEOUT_S = 2.0
DISCONNECT_DRAIN_TIMEOUT_S = 30.0
"""How long a closed connection's queued messages may take before its `$disconnect` runs anyway."""

GOING_AWAY = (int(WSCloseCode.GOING_AWAY), "Going away")
ABNORMAL = (int(WSCloseCode.ABNORMAL_CLOSURE), "Connection closed abnormally")
MESSAGE_TOO_BIG = int(WSCloseCode.MESSAGE_TOO_BIG)
UNSUPPORTED_DATA = (int(WSCloseCode.UNSUPPORTED_DATA), "Binary frames are not supported")
"""API Gateway "rejects [a binary frame] and disconnects the client with code 1003" (binary media types for
WebSocket APIs); the reason text is ours: AWS documents none."""
TIMED_OUT_MESSAGE = "Endpoint request timed out"
HOP_BY_HOP_HEADERS = frozenset({"connection", "upgrade"})
"""Not in the CONNECT events API Gateway sends: it terminates the upgrade itself."""
NO_STATUS = 1005
"""A close frame without a code reports 1005, as RFC 6455 says."""


class Invoker(Protocol):
    async def invoke(self, event: Any, *, request_id: str | None = None) -> InvocationResult: ...


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def error_frame(message: str, connection_id: str, request_id: str) -> str:
    """API Gateway's error frame, byte for byte as clients receive it (one space after the first colon only).

    As captured from AWS: `{"message": "Endpoint request timed out", "connectionId":"Llf4ceE2NjMCF7w=",
    "requestId":"Llf7PFSNNjMFZeA="}` (aws/chalice#1406, Kludex/mangum#128); Forbidden and Internal server error
    come in the same shape.
    """
    dump = json.dumps
    return f'{{"message": {dump(message)}, "connectionId":{dump(connection_id)}, "requestId":{dump(request_id)}}}'


def _integration_status(result: InvocationResult | None) -> int | None:
    if result is None or not result.ok:
        return None
    payload = result.payload
    status = payload.get("statusCode", 200) if isinstance(payload, dict) else 200
    return status if isinstance(status, int) else None


class Gateway:
    """Serves `GET /{stage}` (the WebSocket endpoint) for one API; `connections` is shared with `@connections`."""

    def __init__(
        self,
        settings: StackSettings,
        invoker: Invoker,
        *,
        api_id: str,
        registry: ConnectionRegistry,
        access_log: AccessLogSink,
        guards: FrameGuards,
        connection_id: Callable[[], str] = ids.gateway_id,
        authorizer: LocalAuthorizer | None = None,
    ) -> None:
        self._authorizer = authorizer
        self._settings = settings
        self._invoker = invoker
        self.api_id = api_id
        self.registry = registry
        self._access_log = access_log
        self._new_connection_id = connection_id
        self._guards = guards
        self._orphans: set[asyncio.Future[InvocationResult]] = set()
        """Invocations the gateway stopped waiting for (integration timeout): they run on, as on AWS."""
        self._selector = RouteSelector(settings.route_selection_expression, settings.routes)
        self._handlers: set[asyncio.Task[Any]] = set()
        self._closing = False

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(f"/{self._settings.stage}", self.websocket)

    # -- handshake -------------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if self._closing:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        if not web.WebSocketResponse().can_prepare(request).ok:
            return _closing(web.json_response({"message": "Upgrade Required"}, status=426))
        guard = self._guards.of(request)
        if guard is None:
            # Only a connection whose first request is the upgrade has the frame limit on it: serve no other.
            return _closing(web.json_response({"message": "Bad Request"}, status=400))
        epoch_ms = now_ms()
        facts = ConnectionFacts(
            api_id=self.api_id,
            stage=self._settings.stage,
            domain_name=request.host,
            connection_id=self._new_connection_id(),
            connected_at_ms=epoch_ms,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
        )
        request_id = ids.gateway_id()
        event = connect_event(
            facts,
            headers=self._forwarded_headers(request, facts),
            query=list(request.rel_url.query.items()),
            epoch_ms=epoch_ms,
            request_id=request_id,
        )
        if self._authorizer is not None:
            verdict = await self._authorizer.authorize(event)
            if not verdict.allowed:
                return self._refused_by_authorizer(verdict.status, facts, request_id, epoch_ms)
            facts = replace(facts, authorizer=verdict.context)
            event["requestContext"]["authorizer"] = dict(verdict.context or {})
        result, latency_ms, timed_out = await self._invoke(event, request_id)
        status = _integration_status(result)
        accepted = status is not None and 200 <= status < 300
        self._log_access(
            facts,
            request_id,
            epoch_ms,
            event_type="CONNECT",
            route_key="$connect",
            status=504 if timed_out else status or 500,
            result=result,
            latency_ms=latency_ms,
            error=TIMED_OUT_MESSAGE if timed_out else None,
        )
        if timed_out:
            body = error_frame(TIMED_OUT_MESSAGE, facts.connection_id, request_id)
            return _closing(web.Response(status=504, text=body, content_type="application/json"))
        if not accepted:
            return _closing(self._refusal(result, status, facts, request_id))
        chosen = self._chosen_protocol(result)
        socket = web.WebSocketResponse(
            max_msg_size=self._settings.max_message_bytes + 1,  # aiohttp refuses sizes >= its limit
            compress=False,  # API Gateway negotiates no permessage-deflate
            # Pings are answered either way; only with --pings-reset-idle do they reach the receive loop.
            autoping=not self._settings.pings_reset_idle,
            timeout=CLOSE_HANDSHAKE_TIMEOUT_S,
            # The integration picks the subprotocol (its Sec-WebSocket-Protocol header), as on API Gateway.
            protocols=(chosen,) if chosen else (),
        )
        await socket.prepare(request)
        connection = LiveConnection(facts, socket, wire=guard)
        guard.on_oversized(lambda size: self._close_soon(connection, MESSAGE_TOO_BIG, "Frame size limit exceeded"))
        self.registry.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            await self._serve(connection)
        finally:
            if task is not None:
                self._handlers.discard(task)
        return socket

    def _refused_by_authorizer(
        self, status: int, facts: ConnectionFacts, request_id: str, epoch_ms: int
    ) -> web.Response:
        # API Gateway's own answers: 401 Unauthorized (no identity source), 403 Forbidden (Deny), 500 otherwise.
        message = {401: "Unauthorized", 403: "Forbidden"}.get(status, "Internal server error")
        self._log_access(
            facts,
            request_id,
            epoch_ms,
            event_type="CONNECT",
            route_key="$connect",
            status=status,
            result=None,
            latency_ms=None,
            error=message,
        )
        return web.json_response({"message": message}, status=status)

    @staticmethod
    def _chosen_protocol(result: InvocationResult | None) -> str | None:
        payload = result.payload if result is not None else None
        headers = payload.get("headers") if isinstance(payload, dict) else None
        if isinstance(headers, dict):
            for name, value in headers.items():
                if name.lower() == "sec-websocket-protocol" and isinstance(value, str):
                    return value
        return None

    def _forwarded_headers(self, request: web.Request, facts: ConnectionFacts) -> list[tuple[str, str]]:
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP_HEADERS]
        port = request.url.port or (443 if request.secure else 80)
        headers += [
            ("X-Amzn-Trace-Id", _trace_id()),
            ("X-Forwarded-For", facts.source_ip),
            ("X-Forwarded-Port", str(port)),
            ("X-Forwarded-Proto", "https" if request.secure else "http"),
        ]
        return headers

    @staticmethod
    def _refusal(
        result: InvocationResult | None, status: int | None, facts: ConnectionFacts, request_id: str
    ) -> web.Response:
        if status is None:
            body = error_frame("Internal server error", facts.connection_id, request_id)
            return web.Response(status=500, text=body, content_type="application/json")
        payload = result.payload if result is not None else None
        text = payload.get("body") if isinstance(payload, dict) else None
        return web.Response(status=status, text=text if isinstance(text, str) else "")

    # -- the connection's life -------------------------------------------------------------------

    async def _serve(self, connection: LiveConnection) -> None:
        socket = connection.socket
        backlog: asyncio.Queue[str | bytes | None] = asyncio.Queue(MESSAGE_BACKLOG)
        consumer = asyncio.create_task(self._consume(connection, backlog))
        deadlines = _Deadlines(self, connection)
        close: tuple[int, str] | None = None
        try:
            close = await self._receive_loop(connection, backlog)
        finally:
            deadlines.cancel()
            self.registry.remove(connection.connection_id)
            if not socket.closed:
                with contextlib.suppress(Exception):
                    await socket.close(code=GOING_AWAY[0], message=GOING_AWAY[1].encode())
            await self._finish(connection, backlog, consumer, close or connection.server_close or GOING_AWAY)

    async def _receive_loop(
        self, connection: LiveConnection, backlog: asyncio.Queue[str | bytes | None]
    ) -> tuple[int, str]:
        # The idle and maximum-duration limits are timers of their own (`_Deadlines`): a read that restarted its
        # timeout on every ping would never see them pass.
        socket = connection.socket
        while True:
            message = await socket.receive()
            if message.type is WSMsgType.TEXT:
                connection.touch()
                await backlog.put(message.data)
            elif message.type is WSMsgType.BINARY:
                await self.close(connection, *UNSUPPORTED_DATA)
                return UNSUPPORTED_DATA
            elif message.type is WSMsgType.PING:  # only with --pings-reset-idle (autoping off)
                connection.touch()
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await socket.pong(message.data)
            elif message.type is WSMsgType.PONG:
                connection.touch()
            elif message.type is WSMsgType.CLOSE:
                code = message.data if isinstance(message.data, int) and message.data else NO_STATUS
                return connection.server_close or (code, message.extra or "")
            elif message.type is WSMsgType.ERROR:
                # aiohttp reports a protocol violation (like its message size limit) as the error's close code.
                code = getattr(message.data, "code", None) or socket.close_code or ABNORMAL[0]
                if code == MESSAGE_TOO_BIG:
                    return (MESSAGE_TOO_BIG, "Message too big")
                return connection.server_close or ABNORMAL
            else:  # CLOSING (we closed it) or CLOSED (the transport went away)
                return connection.server_close or ABNORMAL

    async def _consume(self, connection: LiveConnection, backlog: asyncio.Queue[str | bytes | None]) -> None:
        while (data := await backlog.get()) is not None:
            await self._on_message(connection, data)

    async def _finish(
        self,
        connection: LiveConnection,
        backlog: asyncio.Queue[str | bytes | None],
        consumer: asyncio.Task[None],
        close: tuple[int, str],
    ) -> None:
        # Messages already received are still delivered (their replies find the connection gone).
        with contextlib.suppress(asyncio.QueueFull):
            backlog.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(consumer), DISCONNECT_DRAIN_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError):
            consumer.cancel()
        epoch_ms = now_ms()
        request_id = ids.gateway_id()
        event = disconnect_event(
            connection.facts, status_code=close[0], reason=close[1], epoch_ms=epoch_ms, request_id=request_id
        )
        result, latency_ms, timed_out = await self._invoke(event, request_id)
        status = 504 if timed_out else _integration_status(result) or 500
        self._log_access(
            connection.facts,
            request_id,
            epoch_ms,
            event_type="DISCONNECT",
            route_key="$disconnect",
            status=status,
            result=result,
            latency_ms=latency_ms,
        )

    async def _on_message(self, connection: LiveConnection, data: str | bytes) -> None:
        facts = connection.facts
        epoch_ms = now_ms()
        request_id = ids.gateway_id()
        message_id = ids.gateway_id()
        route = self._selector.select(data)
        if route is None:
            self._log_access(
                facts,
                request_id,
                epoch_ms,
                event_type="MESSAGE",
                route_key="",
                status=403,
                result=None,
                latency_ms=None,
                message_id=message_id,
                error="Forbidden",
            )
            await self._send_frame(connection, error_frame("Forbidden", facts.connection_id, request_id))
            return
        event = message_event(
            facts, route_key=route, data=data, epoch_ms=epoch_ms, request_id=request_id, message_id=message_id
        )
        result, latency_ms, timed_out = await self._invoke(event, request_id)
        status = _integration_status(result)
        self._log_access(
            facts,
            request_id,
            epoch_ms,
            event_type="MESSAGE",
            route_key=route,
            status=504 if timed_out else 200 if status else 500,
            result=result,
            latency_ms=latency_ms,
            message_id=message_id,
            error=TIMED_OUT_MESSAGE if timed_out else None,
        )
        if timed_out:
            await self._send_frame(connection, error_frame(TIMED_OUT_MESSAGE, facts.connection_id, request_id))
        elif status is None:
            await self._send_frame(connection, error_frame("Internal server error", facts.connection_id, request_id))

    async def _invoke(self, event: dict[str, Any], request_id: str) -> tuple[InvocationResult | None, int, bool]:
        """(result, latency, timed out): past the integration timeout the gateway answers, the function runs on."""
        started = time.perf_counter()
        route = event["requestContext"]["routeKey"]
        invocation = asyncio.ensure_future(self._invoker.invoke(event))
        result: InvocationResult | None = None
        timed_out = False
        try:
            result = await asyncio.wait_for(asyncio.shield(invocation), self._settings.integration_timeout_s)
        except TimeoutError:
            timed_out = True
            self._orphans.add(invocation)
            invocation.add_done_callback(self._orphan_done)
            LOGGER.warning("%s integration timed out after %g s", route, self._settings.integration_timeout_s)
        except RuntimeStopped:
            result = None
        latency_ms = round((time.perf_counter() - started) * 1000)
        if result is not None and not result.ok:
            LOGGER.warning("%s invocation failed: %s", route, result.error_message)
        return result, latency_ms, timed_out

    def _orphan_done(self, invocation: asyncio.Future[InvocationResult]) -> None:
        self._orphans.discard(invocation)
        if not invocation.cancelled() and invocation.exception() is None and not invocation.result().ok:
            LOGGER.warning("an invocation past the integration timeout failed: %s", invocation.result().error_message)

    async def send(self, connection: LiveConnection, payload: bytes, text: str | None) -> None:
        """Deliver one message (`text` if it is UTF-8, else binary); over 32 KB as fragments of at most 32 KB.

        AWS: "a message larger than 32 KB must be split into multiple frames, each 32 KB or smaller. This applies
        to @connections commands" (WebSocket API quotas): a post of up to 128 KB reaches the client framed so.
        """
        limit = self._settings.max_frame_bytes
        if len(payload) <= limit or connection.wire is None:
            if text is not None:
                await connection.socket.send_str(text)
            else:
                await connection.socket.send_bytes(payload)
            return
        if connection.socket.closed:
            raise ConnectionResetError("the connection is closing")
        connection.wire.write_fragmented(payload, text=text is not None, max_frame_bytes=limit)
        await connection.wire.drain()

    async def _send_frame(self, connection: LiveConnection, frame: str) -> None:
        if connection.socket.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.socket.send_str(frame)

    def _log_access(
        self,
        facts: ConnectionFacts,
        request_id: str,
        epoch_ms: int,
        *,
        event_type: str,
        route_key: str,
        status: int,
        result: InvocationResult | None,
        latency_ms: int | None,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        if result is not None and not result.ok:
            error = error or "Internal server error"
        line = access_line(
            facts,
            request_id=request_id,
            epoch_ms=epoch_ms,
            event_type=event_type,
            route_key=route_key,
            status=status,
            integration_status=_integration_status(result),
            integration_latency_ms=latency_ms,
            message_id=message_id,
            error=error,
            integration_error=None if result is None or result.ok else result.error_message,
        )
        self._access_log.write(line, epoch_ms)

    # -- closing from the server side ------------------------------------------------------------

    async def close(self, connection: LiveConnection, code: int, reason: str) -> None:
        """Close from the server side; the code and reason become the DISCONNECT event's."""
        if connection.server_close is None:
            connection.server_close = (code, reason)
        with contextlib.suppress(Exception):
            await connection.socket.close(code=code, message=reason.encode())

    def _close_soon(self, connection: LiveConnection, code: int, reason: str) -> None:
        # Called from aiohttp's data_received: no awaiting there.
        if connection.server_close is None:
            connection.server_close = (code, reason)
            task = asyncio.get_running_loop().create_task(self.close(connection, code, reason))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def shutdown(self) -> None:
        """Close every connection (1001), let their `$disconnect` run, refuse new ones."""
        self._closing = True
        await asyncio.gather(*(self.close(c, *GOING_AWAY) for c in self.registry.all()), return_exceptions=True)
        pending = [task for task in self._handlers if task is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=DISCONNECT_DRAIN_TIMEOUT_S)


def _closing(response: web.Response) -> web.Response:
    # After an upgrade request's head the connection's bytes are read as frames: a refusal must end it.
    response.force_close()
    return response


class _Deadlines:
    """The idle timeout and maximum duration of one connection, on one loop timer re-armed as activity moves it."""

    def __init__(self, gateway: Gateway, connection: LiveConnection) -> None:
        self._gateway = gateway
        self._connection = connection
        settings = gateway._settings
        self._idle_ms = int(settings.idle_timeout_s * 1000)
        self._ends_at_ms = connection.facts.connected_at_ms + int(settings.max_duration_s * 1000)
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        due_ms = min(self._connection.last_active_ms + self._idle_ms, self._ends_at_ms)
        self._handle = self._loop.call_later(max(0.0, (due_ms - now_ms()) / 1000), self._check)

    def _check(self) -> None:
        connection = self._connection
        now = now_ms()
        if now >= self._ends_at_ms or now >= connection.last_active_ms + self._idle_ms:
            self._handle = None
            self._gateway._close_soon(connection, *GOING_AWAY)
        else:
            self._arm()  # activity moved the idle deadline

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
