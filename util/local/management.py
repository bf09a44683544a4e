"""The `@connections` management API of the emulated stage: POST (send), GET (describe), DELETE (disconnect).

Served at `/{stage}/@connections/{id}` on the gateway's own origin, so boto3's `apigatewaymanagementapi`
client works with `endpoint_url=http://HOST:PORT/STAGE`. Requests must be SigV4-signed (any signature is
accepted: there are no real credentials here); errors carry `x-amzn-ErrorType`, which botocore turns into
`GoneException`, `PayloadTooLargeException`, ... `--latency-ms` delays every call; `--fault-rate` answers that
share of calls 500 or 429, both retried by botocore's standard mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from datetime import UTC, datetime

from aiohttp import web

from .gateway import Gateway
from .registry import ConnectionRegistry, LiveConnection
from .settings import StackSettings

DELETED = (1000, "Connection deleted")
"""Close code and reason of a connection closed by DELETE @connections (they reach `$disconnect`)."""
_FAULTS = (
    (500, "InternalServerErrorException", "Internal server error"),
    (429, "LimitExceededException", "Rate exceeded"),
)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def aws_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": error_type})


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

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", f"/{self._settings.stage}/@connections/{{connection_id}}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self._settings.latency_ms > 0:
            await asyncio.sleep(self._settings.latency_ms / 1000)
        if not _is_signed(request):
            return aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        if self._settings.fault_rate > 0 and self._rng.random() < self._settings.fault_rate:
            return aws_error(*self._rng.choice(_FAULTS))
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
            return aws_error(410, "GoneException", "")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            if text is None:
                await connection.socket.send_bytes(data)
            else:
                await connection.socket.send_str(text)
        except (ConnectionError, RuntimeError):
            return aws_error(410, "GoneException", "")
        connection.touch()
        return web.Response(status=200)

    @staticmethod
    def _get(connection: LiveConnection | None) -> web.StreamResponse:
        if connection is None or connection.socket.closed:
            return aws_error(410, "GoneException", "")
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
            return aws_error(410, "GoneException", "")
        # Gone for every later call at once; the close handshake finishes in the background.
        self._registry.remove(connection.connection_id)
        task = asyncio.create_task(self._gateway.close(connection, *DELETED))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        return web.Response(status=204)

    async def shutdown(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._closing, return_exceptions=True)
