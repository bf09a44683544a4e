"""The `@connections` management API of the emulated stage: POST (send), GET (describe), DELETE (disconnect).

Served at `/{stage}/@connections/{id}` on the gateway's own origin, so boto3's `apigatewaymanagementapi`
client works with `endpoint_url=http://HOST:PORT/STAGE`. Requests must be SigV4-signed with the stack's own
credentials and name the stack in `Host` (`api_guard`); errors carry `x-amzn-ErrorType`, which botocore turns into
`GoneException`, `PayloadTooLargeException`, ... `--latency-ms` delays every call; `--fault-rate` answers that
share of calls 500 or 429 (`--fault-statuses` narrows the choice), both retried by the function's poster; `calls`
records every answer; `--connections-rate N` throttles every call
of the stack to N per second (burst N/2) with API Gateway's 429 LimitExceededException. A post over 32 KB reaches
the client in fragments of at most 32 KB (`Gateway.send`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from lambda_src.aws.management_api import SIGNING_SERVICE
from util.local import ids
from util.local.aws.api_guard import SMALL_BODY_BYTES, ApiGuard
from util.local.gateway.registry import ConnectionRegistry, LiveConnection
from util.local.gateway.server import CLOSE_HANDSHAKE_TIMEOUT_S, Gateway
from util.local.gateway.throttle import TokenBucket
from util.local.settings import StackSettings

DELETED = (1000, "Connection deleted")
"""Close code and reason of a connection closed by DELETE @connections (they reach `$disconnect`)."""
SLOW_CLIENT = (1008, "Slow client")
"""Close code and reason of a connection cut off because it stopped reading (they reach `$disconnect`)."""
SLOW_CLIENT_TIMEOUT_S = 2.0
"""How long a post may wait for a client's socket to take the frame: well under the poster's read timeout."""
CLOSE_TIMEOUT_S = SLOW_CLIENT_TIMEOUT_S + CLOSE_HANDSHAKE_TIMEOUT_S
"""Sending the close frame (as long as a post may wait), then the client's answer (aiohttp's own wait)."""
THROTTLED = (429, "LimitExceededException", "Too Many Requests")
"""The SDKs name a throttled `@connections` call LimitExceededException (its `x-amzn-ErrorType`); the message is
that of API Gateway's THROTTLED gateway response ("Too Many Requests")."""
INTERNAL_ERROR = (500, "InternalServerErrorException", "Internal server error")
FAULTS = {500: INTERNAL_ERROR, 429: THROTTLED}
"""What `--fault-rate` answers, by status (`--fault-statuses` picks among them)."""
MAX_CALLS_KEPT = 100_000


@dataclass(frozen=True)
class ConnectionsCall:
    """One `@connections` call the stage answered: when it arrived (monotonic), to which connection, its status."""

    at: float
    connection_id: str
    method: str
    status: int


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def aws_error(status: int, error_type: str, message: str) -> web.Response:
    headers = {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": ids.lambda_request_id()}
    return web.json_response({"message": message}, status=status, headers=headers)


def gone() -> web.Response:
    """410 as AWS sends it: no body at all. SDKs report it by its `x-amzn-ErrorType` alone (the Java SDK as
    "GoneException: null", the PHP SDK as "Unable to parse error information from response - Error parsing JSON"):
    aws/aws-sdk-java#2200, georgeboot/laravel-echo-api-gateway#9."""
    headers = {"x-amzn-ErrorType": "GoneException", "x-amzn-RequestId": ids.lambda_request_id()}
    return web.Response(status=410, body=b"", content_type="application/json", headers=headers)


def _too_large(request: web.Request, limit: int) -> web.Response:
    return aws_error(413, "PayloadTooLargeException", "Message too long")


def _is_signed(request: web.Request) -> bool:
    authorization = request.headers.get("Authorization", "")
    return authorization.startswith("AWS4-HMAC-SHA256 ") or "X-Amz-Signature" in request.rel_url.query


class ManagementApi:
    def __init__(
        self, settings: StackSettings, registry: ConnectionRegistry, gateway: Gateway, rng: random.Random | None = None
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._gateway = gateway
        self._rng = rng or random.Random()
        self._closing: set[asyncio.Task[None]] = set()
        self.fault_rate = settings.fault_rate
        """The share of calls answered with a fault now (`--fault-rate`; tests change it while the stack runs)."""
        self.calls: list[ConnectionsCall] = []
        """Every call answered, newest last (the most recent `MAX_CALLS_KEPT`): tests count attempts from it."""
        rate = settings.connections_rate
        self._throttle = TokenBucket.for_rate(rate) if rate is not None else None

    def add_routes(self, app: web.Application, guard: ApiGuard) -> None:
        handler = guard.protect(
            self.handle, service=SIGNING_SERVICE, max_body_bytes=self._body_limit, too_large=_too_large
        )
        app.router.add_route("*", f"/{self._settings.stage}/@connections/{{connection_id}}", handler)

    def _body_limit(self, request: web.Request) -> int:
        # A POST carries one message (API Gateway's 128 KB); GET and DELETE carry nothing.
        return self._settings.max_message_bytes if request.method == "POST" else SMALL_BODY_BYTES

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        response = await self._answer(request)
        call = ConnectionsCall(arrived, request.match_info["connection_id"], request.method, response.status)
        self.calls.append(call)
        if len(self.calls) > MAX_CALLS_KEPT:
            del self.calls[: len(self.calls) - MAX_CALLS_KEPT]
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if self._settings.latency_ms > 0:
            await asyncio.sleep(self._settings.latency_ms / 1000)
        if not _is_signed(request):
            return aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        if self._throttle is not None and not self._throttle.take():
            return aws_error(*THROTTLED)
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            return aws_error(*FAULTS[self._rng.choice(self._settings.fault_statuses)])
        connection_id = request.match_info["connection_id"]  # aiohttp has percent-decoded it ('%2F' -> '/')
        connection = self._registry.get(connection_id)
        if request.method == "POST":
            return await self._post(request, connection)
        if request.method == "GET":
            return self._get(connection)
        if request.method == "DELETE":
            return self._delete(connection)
        return aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")

    async def _post(self, request: web.Request, connection: LiveConnection | None) -> web.StreamResponse:
        data = await request.read()
        if len(data) > self._settings.max_message_bytes:
            return aws_error(413, "PayloadTooLargeException", "Message too long")
        if connection is None or connection.socket.closed:
            return gone()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            # A timeout scope, not `wait_for`: no task per post (posts are the hot path of every fan-out).
            async with asyncio.timeout(SLOW_CLIENT_TIMEOUT_S):
                await self._gateway.send(connection, data, text)
        except TimeoutError:
            # The client stopped reading and its buffers are full. Waiting on would stall the whole fan-out (until
            # the function times out and every later recipient loses the frame), so it is cut off, as if gone.
            self._close_soon(connection, SLOW_CLIENT)
            return gone()
        except (ConnectionError, RuntimeError):
            return gone()
        connection.touch()
        return web.Response(status=200)

    @staticmethod
    def _get(connection: LiveConnection | None) -> web.StreamResponse:
        if connection is None or connection.socket.closed:
            return gone()
        facts = connection.facts
        return web.json_response(
            {
                "connectedAt": _iso(facts.connected_at_ms),
                "identity": {"sourceIp": facts.source_ip, "userAgent": facts.user_agent or ""},
                "lastActiveAt": _iso(connection.last_active_ms),
            },
            dumps=lambda value: json.dumps(value, separators=(",", ":")),
        )

    def _delete(self, connection: LiveConnection | None) -> web.StreamResponse:
        if connection is None or connection.socket.closed:
            return gone()
        self._close_soon(connection, DELETED)
        return web.Response(status=204)

    def _close_soon(self, connection: LiveConnection, close: tuple[int, str]) -> None:
        # Gone for every later call at once; the close handshake finishes in the background.
        self._registry.remove(connection.connection_id)
        task = asyncio.create_task(self._close(connection, close))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, connection: LiveConnection, close: tuple[int, str]) -> None:
        try:
            await asyncio.wait_for(self._gateway.close(connection, *close), CLOSE_TIMEOUT_S)
        except TimeoutError:
            # A client that does not read never lets the close frame out either: end the TCP connection itself,
            # so the gateway sees it closed now (and runs `$disconnect`), not at the idle timeout.
            sock = connection.socket.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    async def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._closing, return_exceptions=True)
