"""The connection store: who is connected, under which name, in which rooms.

`ConnectionStore` is the interface the routes use; `S3ConnectionStore` is its one implementation. Layout:
`connections/<id>` holds a small JSON record per live connection, `rooms/<room>/<id>` an empty object per
membership. Connection ids are percent-encoded in keys because AWS's ids are base64 and may contain `/`.
A second implementation (say DynamoDB) belongs in a module of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CONNECTIONS_PREFIX = "connections/"
ROOMS_PREFIX = "rooms/"
S3_DELETE_BATCH = 1000
"""`delete_objects` takes at most this many keys a call."""
RECORD_READ_CONCURRENCY = 16


@dataclass(frozen=True)
class Connection:
    connection_id: str
    name: str
    connected_at_ms: int
    source_ip: str | None = None
    rooms: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "connectionId": self.connection_id,
                "name": self.name,
                "connectedAt": self.connected_at_ms,
                "sourceIp": self.source_ip,
                "rooms": list(self.rooms),
            }
        ).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Connection:
        record = json.loads(data)
        return cls(
            connection_id=record["connectionId"],
            name=record["name"],
            connected_at_ms=record["connectedAt"],
            source_ip=record.get("sourceIp"),
            rooms=tuple(record.get("rooms", ())),
        )


class ConnectionStore(Protocol):
    """Where live connections and room memberships are kept. Every method may raise on storage failure."""

    def add(self, connection: Connection) -> None:
        """Store a new connection (no rooms yet)."""

    def get(self, connection_id: str) -> Connection | None:
        """The connection's record, or None if it is not stored."""

    def remove(self, connection_ids: Iterable[str], room: str | None = None) -> int:
        """Forget these connections and all their memberships (and membership of `room`, which a caller that
        found the id there knows even if the record is gone). Returns the number of keys deleted."""

    def connection_ids(self) -> Iterator[str]:
        """Every stored connection id."""

    def room_members(self, room: str) -> Iterator[str]:
        """The ids of the room's members."""

    def join(self, connection: Connection, room: str) -> Connection:
        """Add the connection to the room; returns the updated record."""

    def leave(self, connection: Connection, room: str) -> Connection:
        """Remove the connection from the room it is in; returns the updated record."""


def connection_key(connection_id: str) -> str:
    return CONNECTIONS_PREFIX + quote(connection_id, safe="")


def membership_key(room: str, connection_id: str) -> str:
    return f"{ROOMS_PREFIX}{room}/{quote(connection_id, safe='')}"


class S3ConnectionStore:
    """`ConnectionStore` on an S3 bucket (paginated listing, deletes batched by 1,000)."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self._bucket = bucket

    def add(self, connection: Connection) -> None:
        self._put_record(connection)

    def get(self, connection_id: str) -> Connection | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=connection_key(connection_id))
        except self._s3.exceptions.NoSuchKey:
            return None
        return Connection.from_json(response["Body"].read())

    def remove(self, connection_ids: Iterable[str], room: str | None = None) -> int:
        ids = list(dict.fromkeys(connection_ids))
        if not ids:
            return 0
        with ThreadPoolExecutor(max_workers=min(RECORD_READ_CONCURRENCY, len(ids))) as pool:
            records = list(pool.map(self.get, ids))
        keys: list[str] = []
        for connection_id, record in zip(ids, records, strict=True):
            keys.append(connection_key(connection_id))
            rooms = set(record.rooms if record else ())
            if room is not None:
                rooms.add(room)
            keys.extend(membership_key(r, connection_id) for r in sorted(rooms))
        for start in range(0, len(keys), S3_DELETE_BATCH):
            batch = keys[start : start + S3_DELETE_BATCH]
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        return len(keys)

    def connection_ids(self) -> Iterator[str]:
        return self._list_ids(CONNECTIONS_PREFIX)

    def room_members(self, room: str) -> Iterator[str]:
        return self._list_ids(f"{ROOMS_PREFIX}{room}/")

    def join(self, connection: Connection, room: str) -> Connection:
        self._s3.put_object(Bucket=self._bucket, Key=membership_key(room, connection.connection_id), Body=b"")
        if room in connection.rooms:
            return connection
        updated = replace(connection, rooms=(*connection.rooms, room))
        self._put_record(updated)
        return updated

    def leave(self, connection: Connection, room: str) -> Connection:
        self._s3.delete_object(Bucket=self._bucket, Key=membership_key(room, connection.connection_id))
        updated = replace(connection, rooms=tuple(r for r in connection.rooms if r != room))
        self._put_record(updated)
        return updated

    def _put_record(self, connection: Connection) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=connection_key(connection.connection_id),
            Body=connection.to_json(),
            ContentType="application/json",
        )

    def _list_ids(self, prefix: str) -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield unquote(item["Key"][len(prefix) :])
