"""The connection store's interface: who is connected, under which name, in which rooms.

`ConnectionStore` is what the routes and the fan-out use; `Connection` is the record it keeps. The
implementations live in modules of their own, one per AWS service: `s3_store.S3ConnectionStore` (the
default) and `dynamodb_store.DynamoDBConnectionStore`; `stores.open_store` picks one by name. No other
module of the function names an S3 or DynamoDB API (tests/lambda_src/test_store_boundary.py holds that).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from lambda_src.errors import StoreError
from lambda_src.store.rate_limit import Admission, RateLimit, Spender

RECORD_READ_CONCURRENCY = 16
"""Store requests in flight at once when one call needs many (records read before a batch delete)."""
RECORD_TTL_S = 24 * 60 * 60
"""Records and memberships expire this long after they were written: `$disconnect` is best effort, and API
Gateway closes any connection after 2 h. deployment/ expires them after the same time (a test holds them equal)."""
MAX_CLAIM_BYTES = 350_000
"""The largest claim record a store keeps: DynamoDB's items are at most 400 KB, key and attribute names included."""
MAX_SEGMENTS = 1_000_000
"""DynamoDB's own limit on TotalSegments of a parallel Scan; the S3 store accepts the same range."""


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


@dataclass(frozen=True)
class Member:
    """One member of a room as `members` lists it; `user_id` (the token's `sub`) is set by presence frames from the
    event's identity only: the stores do not keep it."""

    connection_id: str
    name: str
    joined_at_ms: int | None
    user_id: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One message of a room's history: its id and the frame exactly as it was delivered."""

    message_id: str
    data: bytes


@dataclass(frozen=True)
class ClaimRecord:
    """A claim's record as the store keeps it: its bytes (the store never reads them) and the version they are at."""

    body: bytes
    version: str


def check_claim_body(body: bytes) -> None:
    """Raise `StoreError` if `body` is larger than a store may keep (`MAX_CLAIM_BYTES`)."""
    if len(body) > MAX_CLAIM_BYTES:
        raise StoreError(f"a claim record is at most {MAX_CLAIM_BYTES} bytes, not {len(body)}")


def check_segment(segment: int, segments: int) -> None:
    """Raise `StoreError` unless `segment` is one of `segments` (0-based), as DynamoDB's parallel Scan checks."""
    if not 1 <= segments <= MAX_SEGMENTS:
        raise StoreError(f"segments must be between 1 and {MAX_SEGMENTS}, not {segments}")
    if not 0 <= segment < segments:
        raise StoreError(f"segment must be between 0 and {segments - 1}, not {segment}")


class ConnectionStore(Protocol):
    """Where live connections and room memberships are kept. Every method may raise on storage failure.

    The contract every implementation passes is tests/lambda_src/test_store_contract.py.
    """

    def add(self, connection: Connection) -> None:
        """Store a new connection (no rooms yet); replaces a record of the same id."""

    def get(self, connection_id: str) -> Connection | None:
        """The connection's record, or None if it is not stored."""

    def remove(self, connection_ids: Iterable[str], room: str | None = None) -> int:
        """Forget these connections and all their memberships (and membership of `room`, which a caller that
        found the id there knows even if the record is gone), and their rate-limit and fan-out budget state.
        Returns the number of entries (records and memberships) it deleted or found absent: one per record, one per
        membership it knew of (the rate-limit and budget state are not counted)."""

    def connection_ids(self, segment: int = 0, segments: int = 1, expected: int | None = None) -> Iterator[str]:
        """Every stored connection id, or those of one `segment` of `segments`: the segments of one count are
        disjoint and together list every id, so `segments` invocations can each list their own part.

        `expected` (about how many ids the caller expects) changes what is asked, never what is listed: the S3
        store sizes its first page to it, since a key range's page is cut at 1,000 keys, not at the range's end,
        and the keys past the end would be fetched and parsed for nothing. DynamoDB's segments need no hint."""

    def room_members(self, room: str) -> Iterator[str]:
        """The ids of the room's members."""

    def join(self, connection: Connection, room: str, joined_at_ms: int | None = None) -> Connection:
        """Add the connection to the room (its membership keeps the name and `joined_at_ms`, the record's
        connect time when None, for `members`); returns the updated record."""

    def leave(self, connection: Connection, room: str) -> Connection:
        """Remove the connection from the room it is in; returns the updated record."""

    # --- Presence and history (issue 17): a block of its own, so that other additions merge beside it. ---

    def members(self, room: str, after: str | None, limit: int) -> tuple[list[Member], str | None]:
        """One page of the room's members in connection-id order, starting after the member `after`, at most
        `limit`; and the cursor of the next page (the last id of this one), None when none follows."""

    def append_history(self, room: str, entry: HistoryEntry, expires_at_s: int) -> None:
        """Keep the message in the room's history until `expires_at_s` (epoch seconds) or the store's own expiry;
        writing the same id again replaces it (a retried push keeps one entry)."""

    def history(self, room: str, after: str, limit: int, window: int) -> tuple[list[HistoryEntry], bool]:
        """The room's messages with ids greater than `after` (any string: an id, or a `message_ids.time_prefix`
        as the retention's bound), oldest first, at most `limit`, among only the newest `window` such messages;
        and whether more follow this page within that window."""

    # --- Rate limiting (issue 15) ---

    def admit_message(self, connection_id: str, now_us: int, limit: RateLimit) -> Admission:
        """Whether the connection may send one more message at `now_us` (epoch microseconds) under `limit`, decided
        by `rate_limit.decide` on its stored state, which an admitted message updates with a conditional write:
        concurrent calls for one connection admit exactly as many messages as the same calls one at a time."""

    def admit_posts(self, spender: Spender, spender_id: str, posts: int, now_us: int, limit: RateLimit) -> Admission:
        """Whether the connection (or user) `spender_id` may cause `posts` more posts at `now_us` under its fan-out
        budget `limit`, decided by `rate_limit.decide` with `cost=posts` and written as `admit_message` writes: with
        a conditional write, so concurrent calls admit what the same calls one at a time would. Each spender's state
        is its own, apart from the message rate's; `remove` forgets a connection's, a user's expires with the
        store's records (`RECORD_TTL_S`)."""

    # --- Claims (issue 15; progress, issue 30): who posts a part of a delivery, and what it has posted ---

    def read_claim(self, token: str) -> ClaimRecord | None:
        """The claim's record as last written and its version; None when there is none or it has expired."""

    def write_claim(self, token: str, body: bytes, version: str | None, expires_at_s: int) -> str | None:
        """Write the claim's record only if it is still at `version` (None: there is none, or it has expired) and keep
        it until `expires_at_s` (epoch seconds); returns the new version, or None when another write got there first.
        Of any number of concurrent writers at one version exactly one wins. `body` is at most `MAX_CLAIM_BYTES`."""
