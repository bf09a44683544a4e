"""The gateway's live connections: who is connected, since when, last active when, and how to reach them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from lambda_src.observability.clock import now_ms
from util.local.gateway.events import ConnectionFacts

if TYPE_CHECKING:
    from util.local.gateway.frames import GuardedProtocol


@dataclass
class LiveConnection:
    facts: ConnectionFacts
    socket: web.WebSocketResponse
    last_active_ms: int = field(default_factory=now_ms)
    server_close: tuple[int, str] | None = None
    """Set by whoever closed it from the server side (limit, DELETE, shutdown): the DISCONNECT event's code."""
    wire: GuardedProtocol | None = None
    """The connection's frame guard, which also writes messages over 32 KB as fragments."""

    @property
    def connection_id(self) -> str:
        return self.facts.connection_id

    def touch(self) -> None:
        self.last_active_ms = now_ms()


class ConnectionRegistry:
    """Connections between a successful `$connect` and their close; ids are unique for the stack's life."""

    def __init__(self) -> None:
        self._connections: dict[str, LiveConnection] = {}

    def add(self, connection: LiveConnection) -> None:
        self._connections[connection.connection_id] = connection

    def remove(self, connection_id: str) -> None:
        self._connections.pop(connection_id, None)

    def get(self, connection_id: str) -> LiveConnection | None:
        return self._connections.get(connection_id)

    def all(self) -> list[LiveConnection]:
        return list(self._connections.values())

    def __len__(self) -> int:
        return len(self._connections)
