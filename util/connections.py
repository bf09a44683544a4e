"""`util connections [--room R] [--json]`: the live connections, from the store and `GET @connections`.

The store is read through the function's own `ConnectionStore`, built from the environment's outputs as the
function builds it from its environment; each listed id is then asked of `@connections` for `connectedAt` and
`lastActiveAt`. An id the store still holds but API Gateway answers 410 for is gone: it is not listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lambda_src.protocol.frames import ROOM_PATTERN
from lambda_src.store.contract import Connection, ConnectionStore

from .clients import connection_store, management_client
from .console import out
from .environments import Outputs, load_outputs
from .errors import InputError
from .options import EnvOption, resolve_env

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient

LOOKUP_CONCURRENCY = 8
"""`GET @connections` calls in flight at once (API Gateway's account throttle is shared with the fan-out)."""


@dataclass(frozen=True)
class LiveConnection:
    connection_id: str
    name: str
    rooms: tuple[str, ...]
    connected_at: str | None
    last_active_at: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "connectionId": self.connection_id,
            "name": self.name,
            "rooms": list(self.rooms),
            "connectedAt": self.connected_at,
            "lastActiveAt": self.last_active_at,
        }


def open_store(outputs: Outputs) -> ConnectionStore:
    """The environment's connection store, as the function builds it (its `connections_table` or bucket)."""
    return connection_store(outputs)


def stored(store: ConnectionStore, room: str | None) -> Iterator[Connection]:
    ids = store.room_members(room) if room is not None else store.connection_ids()
    for connection_id in ids:
        record = store.get(connection_id)
        if record is not None:
            yield record


def lookup(api: ApiGatewayManagementApiClient, record: Connection) -> LiveConnection | None:
    """The connection as API Gateway knows it; None when it answers 410 Gone."""
    try:
        answer = api.get_connection(ConnectionId=record.connection_id)
    except api.exceptions.GoneException:
        return None
    return LiveConnection(
        connection_id=record.connection_id,
        name=record.name,
        rooms=record.rooms,
        connected_at=_iso(answer.get("ConnectedAt")),
        last_active_at=_iso(answer.get("LastActiveAt")),
    )


def live_connections(outputs: Outputs, room: str | None) -> list[LiveConnection]:
    records = list(stored(open_store(outputs), room))
    api = management_client(outputs)
    with ThreadPoolExecutor(max_workers=LOOKUP_CONCURRENCY) as pool:
        found = list(pool.map(lambda record: lookup(api, record), records))
    live = [connection for connection in found if connection is not None]
    return sorted(live, key=lambda c: (c.connected_at or "", c.connection_id))


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def table(connections: list[LiveConnection]) -> Table:
    view = Table("connection id", "name", "rooms", "connected at", "last active", box=None, pad_edge=False)
    for c in connections:
        view.add_row(c.connection_id, c.name, ", ".join(c.rooms), c.connected_at or "", c.last_active_at or "")
    return view


def command(
    *,
    env: EnvOption = None,
    room: Annotated[str | None, typer.Option("--room", help="Only the members of this room.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of objects instead of a table.")] = False,
) -> None:
    """List the live connections: id, name, rooms, connected at, last active."""
    if room is not None and not ROOM_PATTERN.fullmatch(room):
        raise InputError(f"invalid room {room!r}: 1-64 of letters, digits, '_', '.' and '-'")
    connections = live_connections(load_outputs(resolve_env(env)), room)
    if as_json:
        out.print(json.dumps([c.as_json() for c in connections], indent=2), markup=False)
    else:
        out.print(table(connections))
