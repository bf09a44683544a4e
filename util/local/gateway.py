"""The WebSocket side of the API Gateway emulator: handshake, `$connect`, routing, limits, `$disconnect`.

Faithful where code notices: `$connect` runs before the handshake completes and its status decides it; a
message is routed by the API's selection expression (`$default`, else the `Forbidden` frame); a failed
integration answers `Internal server error`; messages over 128 KB and frames over 32 KB close the
connection with 1009; idle and maximum-duration limits close it with 1001; every close ends in one
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

from . import ids
from .access_log import AccessLogSink, access_line
from .authorizer import LocalAuthorizer
from .events import ConnectionFacts, connect_event, disconnect_event, message_event
from .frames import guard_connection
from .registry import ConnectionRegistry, LiveConnection, now_ms
from .routing import RouteSelector
from .runtime import InvocationResult, RuntimeStopped
from .settings import StackSettings

LOGGER = logging.getLogger("wspush.local.gateway")

MESSAGE_BACKLOG = 100
"""Messages of one connection waiting for their invocation; beyond that the gateway stops reading (TCP backpressure)."""
CLOSE_HANDSHAKE_TIMEOUT_S = 2.0
DISCONNECT_DRAIN_TIMEOUT_S = 30.0
"""How long a closed connection's queued messages may take before its `$disconnect` runs anyway."""

GOING_AWAY = (int(WSCloseCode.GOING_AWAY), "Going away")
ABNORMAL = (int(WSCloseCode.ABNORMAL_CLOSURE), "Connection closed abnormally")
MESSAGE_TOO_BIG = int(WSCloseCode.MESSAGE_TOO_BIG)
NO_STATUS = 1005
"""A close frame without a code reports 1005, as RFC 6455 says."""


class Invoker(Protocol):
    async def invoke(self, event: Any, *, request_id: str | None = None) -> InvocationResult: ...


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


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
            return web.json_response({"message": "Upgrade Required"}, status=426)
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
        result, latency_ms = await self._invoke(event, request_id)
        status = _integration_status(result)
        accepted = status is not None and 200 <= status < 300
        self._log_access(
            facts,
            request_id,
            epoch_ms,
            event_type="CONNECT",
            route_key="$connect",
            status=status or 500,
            result=result,
            latency_ms=latency_ms,
        )
        if not accepted:
            return self._refusal(result, status, facts, request_id)
        chosen = self._chosen_protocol(result)
        socket = web.WebSocketResponse(
            max_msg_size=self._settings.max_message_bytes + 1,  # aiohttp refuses sizes >= its limit
            compress=False,  # API Gateway negotiates no permessage-deflate
            autoping=True,
            timeout=CLOSE_HANDSHAKE_TIMEOUT_S,
            # The integration picks the subprotocol (its Sec-WebSocket-Protocol header), as on API Gateway.
            protocols=(chosen,) if chosen else (),
        )
        await socket.prepare(request)
        connection = LiveConnection(facts, socket)
        guard_connection(
            request.protocol,
            self._settings.max_frame_bytes,
            lambda size: self._close_soon(connection, MESSAGE_TOO_BIG, "Frame size limit exceeded"),
        )
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
        headers = [(name, value) for name, value in request.headers.items()]
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
            body = {"message": "Internal server error", "connectionId": facts.connection_id, "requestId": request_id}
            return web.json_response(body, status=500)
        payload = result.payload if result is not None else None
        text = payload.get("body") if isinstance(payload, dict) else None
        return web.Response(status=status, text=text if isinstance(text, str) else "")

    # -- the connection's life -------------------------------------------------------------------

    async def _serve(self, connection: LiveConnection) -> None:
        socket = connection.socket
        backlog: asyncio.Queue[str | bytes | None] = asyncio.Queue(MESSAGE_BACKLOG)
        consumer = asyncio.create_task(self._consume(connection, backlog))
        close: tuple[int, str] | None = None
        try:
            close = await self._receive_loop(connection, backlog)
        finally:
            self.registry.remove(connection.connection_id)
            if not socket.closed:
                with contextlib.suppress(Exception):
                    await socket.close(code=GOING_AWAY[0], message=GOING_AWAY[1].encode())
            await self._finish(connection, backlog, consumer, close or connection.server_close or GOING_AWAY)

    async def _receive_loop(
        self, connection: LiveConnection, backlog: asyncio.Queue[str | bytes | None]
    ) -> tuple[int, str]:
        socket = connection.socket
        settings = self._settings
        ends_at_ms = connection.facts.connected_at_ms + int(settings.max_duration_s * 1000)
        while True:
            idle_ends_ms = connection.last_active_ms + int(settings.idle_timeout_s * 1000)
            wait_s = (min(idle_ends_ms, ends_at_ms) - now_ms()) / 1000
            if wait_s <= 0:
                await self.close(connection, *GOING_AWAY)
                return GOING_AWAY
            try:
                message = await socket.receive(timeout=wait_s)
            except TimeoutError:
                continue  # a deadline passed, or activity moved it: recompute
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                connection.touch()
                await backlog.put(message.data)
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
        result, latency_ms = await self._invoke(event, request_id)
        status = _integration_status(result) or 500
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
            await self._send_frame(
                connection, {"message": "Forbidden", "connectionId": facts.connection_id, "requestId": request_id}
            )
            return
        event = message_event(
            facts, route_key=route, data=data, epoch_ms=epoch_ms, request_id=request_id, message_id=message_id
        )
        result, latency_ms = await self._invoke(event, request_id)
        status = _integration_status(result)
        self._log_access(
            facts,
            request_id,
            epoch_ms,
            event_type="MESSAGE",
            route_key=route,
            status=200 if status else 500,
            result=result,
            latency_ms=latency_ms,
            message_id=message_id,
        )
        if status is None:
            await self._send_frame(
                connection,
                {"message": "Internal server error", "connectionId": facts.connection_id, "requestId": request_id},
            )

    async def _invoke(self, event: dict[str, Any], request_id: str) -> tuple[InvocationResult | None, int]:
        started = time.perf_counter()
        try:
            result: InvocationResult | None = await self._invoker.invoke(event)
        except RuntimeStopped:
            result = None
        latency_ms = round((time.perf_counter() - started) * 1000)
        if result is not None and not result.ok:
            LOGGER.warning("%s invocation failed: %s", event["requestContext"]["routeKey"], result.error_message)
        return result, latency_ms

    async def _send_frame(self, connection: LiveConnection, frame: dict[str, Any]) -> None:
        if connection.socket.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.socket.send_str(json.dumps(frame, separators=(",", ":")))

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
