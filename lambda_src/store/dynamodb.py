"""`ConnectionStore` on one DynamoDB table (on-demand), chosen with `CONNECTION_STORE=dynamodb`.

One table, generic keys `pk` (partition) and `sk` (sort), so that later kinds of items (room history, rate-limit
counters) fit beside these without a new table or index (docs/architecture.md has the whole design):

| item | pk | sk | attributes |
|---|---|---|---|
| connection record | `conn#<id>` | `conn` | connectionId, name, connectedAt, sourceIp?, rooms (set)?, expiresAt |
| room membership | `room#<room>` | `conn#<id>` | connectionId, name, joinedAt, expiresAt |
| history message | `hist#<room>` | `<message id>` | frame (binary, as delivered), expiresAt |
| rate-limit state | `conn#<id>` | `rate` | tat (microseconds), expiresAt |
| fan-out budget of a connection | `conn#<id>` | `posts` | tat (microseconds), expiresAt |
| fan-out budget of a user | `user#<sub>` | `posts` | tat (microseconds), expiresAt |
| claim | `claim#<token>` | `claim` | body (binary, `delivery.claims`), version, expiresAt |

Every access is a GetItem, a Query of one partition, a conditional-free atomic UpdateItem (`ADD`/`DELETE` on the
record's string set, so concurrent joins and leaves of one connection never lose one another) or a batch of deletes
(the rate-limit state and the claims are a GetItem and a PutItem conditional on what was read); only the listing of
every connection is a Scan (with a filter on `sk`), split into parallel segments (`Segment`/`TotalSegments`) when asked.
Reads are strongly consistent, as S3's are: a client that just connected or joined is in the next broadcast.
`expiresAt` (epoch seconds) is the table's TTL attribute.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from lambda_src.errors import StoreError
from lambda_src.store.contract import (
    RECORD_TTL_S,
    ClaimRecord,
    Connection,
    HistoryEntry,
    Member,
    check_claim_body,
    check_segment,
)
from lambda_src.store.rate_limit import (
    CONTENDED_ATTEMPTS,
    Admission,
    RateLimit,
    Spender,
    decide,
    refused_after_contention,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, WriteRequestTypeDef

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"
"""Epoch seconds after which DynamoDB's TTL deletes the item (deployment/dynamodb.tf names the same)."""
CONNECTION_PREFIX = "conn#"
ROOM_PREFIX = "room#"
HISTORY_PREFIX = "hist#"
"""Partition of a room's history; its sort key is the message id, which sorts as text in time order."""
RECORD_SORT_KEY = "conn"
RATE_SORT_KEY = "rate"
BUDGET_SORT_KEY = "posts"
USER_PREFIX = "user#"
CLAIM_PREFIX = "claim#"
CLAIM_SORT_KEY = "claim"
CLAIM_BODY_ATTRIBUTE = "body"
CLAIM_VERSION_ATTRIBUTE = "version"
"""A random string per write: the condition of the next write (`version = :read`), as the S3 store's ETag."""
TAT_ATTRIBUTE = "tat"
BATCH_GET_LIMIT = 100
"""BatchGetItem reads at most this many keys a call."""
BATCH_WRITE_LIMIT = 25
"""BatchWriteItem writes at most this many items a call."""
UNPROCESSED_ATTEMPTS = 8
"""Rounds of resending what a batch call left unprocessed (throttling) before giving up."""
UNPROCESSED_BACKOFF_S = 0.05


def record_key(connection_id: str) -> dict[str, AttributeValueTypeDef]:
    return {PARTITION_KEY: {"S": CONNECTION_PREFIX + connection_id}, SORT_KEY: {"S": RECORD_SORT_KEY}}


def rate_key(connection_id: str) -> dict[str, AttributeValueTypeDef]:
    return {PARTITION_KEY: {"S": CONNECTION_PREFIX + connection_id}, SORT_KEY: {"S": RATE_SORT_KEY}}


def budget_key(spender: Spender, spender_id: str) -> dict[str, AttributeValueTypeDef]:
    prefix = CONNECTION_PREFIX if spender is Spender.CONNECTION else USER_PREFIX
    return {PARTITION_KEY: {"S": prefix + spender_id}, SORT_KEY: {"S": BUDGET_SORT_KEY}}


def claim_key(token: str) -> dict[str, AttributeValueTypeDef]:
    return {PARTITION_KEY: {"S": CLAIM_PREFIX + token}, SORT_KEY: {"S": CLAIM_SORT_KEY}}


def membership_key(room: str, connection_id: str) -> dict[str, AttributeValueTypeDef]:
    return {PARTITION_KEY: {"S": ROOM_PREFIX + room}, SORT_KEY: {"S": CONNECTION_PREFIX + connection_id}}


def _record(item: Mapping[str, Any]) -> Connection:
    return Connection(
        connection_id=item["connectionId"]["S"],
        name=item["name"]["S"],
        connected_at_ms=int(item["connectedAt"]["N"]),
        source_ip=item["sourceIp"]["S"] if "sourceIp" in item else None,
        rooms=tuple(sorted(item["rooms"]["SS"])) if "rooms" in item else (),
    )


class DynamoDBConnectionStore:
    """`ConnectionStore` on a DynamoDB table keyed `pk`/`sk` (see the module's docstring for the items)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        clock_s: Callable[[], float] = time.time,
        page_limit: int | None = None,
    ) -> None:
        """`page_limit` caps the items one Scan or Query call evaluates (None: DynamoDB's own 1 MB pages)."""
        self._dynamodb = client
        self._table = table
        self._clock_s = clock_s
        self._page = {} if page_limit is None else {"Limit": page_limit}

    @classmethod
    def from_session(cls, session: Any, table: str, client_config: Any) -> DynamoDBConnectionStore:
        """The store on `table` with a client of this boto3 session (endpoint from the environment)."""
        return cls(session.client("dynamodb", config=client_config), table)

    def add(self, connection: Connection) -> None:
        item: dict[str, AttributeValueTypeDef] = {
            **record_key(connection.connection_id),
            "connectionId": {"S": connection.connection_id},
            "name": {"S": connection.name},
            "connectedAt": {"N": str(connection.connected_at_ms)},
            TTL_ATTRIBUTE: {"N": self._expires_at()},
        }
        if connection.source_ip is not None:
            item["sourceIp"] = {"S": connection.source_ip}
        if connection.rooms:
            item["rooms"] = {"SS": list(connection.rooms)}
        self._dynamodb.put_item(TableName=self._table, Item=item)

    def get(self, connection_id: str) -> Connection | None:
        response = self._dynamodb.get_item(TableName=self._table, Key=record_key(connection_id), ConsistentRead=True)
        item = response.get("Item")
        return None if item is None else _record(item)

    def remove(self, connection_ids: Iterable[str], room: str | None = None) -> int:
        ids = list(dict.fromkeys(connection_ids))
        if not ids:
            return 0
        rooms_of = self._rooms_of(ids)
        deletes: list[dict[str, AttributeValueTypeDef]] = []
        for connection_id in ids:
            deletes.append(record_key(connection_id))
            rooms = set(rooms_of.get(connection_id, ()))
            if room is not None:
                rooms.add(room)
            deletes.extend(membership_key(r, connection_id) for r in sorted(rooms))
        counted = len(deletes)
        deletes.extend(rate_key(connection_id) for connection_id in ids)
        deletes.extend(budget_key(Spender.CONNECTION, connection_id) for connection_id in ids)
        for start in range(0, len(deletes), BATCH_WRITE_LIMIT):
            batch = deletes[start : start + BATCH_WRITE_LIMIT]
            self._write_batch([{"DeleteRequest": {"Key": key}} for key in batch])
        return counted

    def connection_ids(self, segment: int = 0, segments: int = 1, expected: int | None = None) -> Iterator[str]:
        # `expected` is not needed: a Scan segment's pages hold that segment's items only.
        check_segment(segment, segments)
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "#sk = :record",
            "ProjectionExpression": "connectionId",
            "ExpressionAttributeNames": {"#sk": SORT_KEY},
            "ExpressionAttributeValues": {":record": {"S": RECORD_SORT_KEY}},
            "ConsistentRead": True,
        }
        if segments > 1:
            request.update(Segment=segment, TotalSegments=segments)
        return self._ids(self._dynamodb.scan, request)

    def room_members(self, room: str) -> Iterator[str]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :room",
            "ProjectionExpression": "connectionId",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
            "ExpressionAttributeValues": {":room": {"S": ROOM_PREFIX + room}},
            "ConsistentRead": True,
        }
        return self._ids(self._dynamodb.query, request)

    def join(self, connection: Connection, room: str, joined_at_ms: int | None = None) -> Connection:
        joined = connection.connected_at_ms if joined_at_ms is None else joined_at_ms
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                **membership_key(room, connection.connection_id),
                "connectionId": {"S": connection.connection_id},
                "name": {"S": connection.name},
                "joinedAt": {"N": str(joined)},
                TTL_ATTRIBUTE: {"N": self._expires_at()},
            },
        )
        return self._update_rooms(connection, "ADD", room)

    def leave(self, connection: Connection, room: str) -> Connection:
        self._dynamodb.delete_item(TableName=self._table, Key=membership_key(room, connection.connection_id))
        return self._update_rooms(connection, "DELETE", room)

    def _update_rooms(self, connection: Connection, action: str, room: str) -> Connection:
        # One atomic UpdateItem: the set operation cannot lose a concurrent one. The if_not_exists SETs rebuild a
        # record that expired or was never stored from the caller's copy, as the S3 store's rewrite does, instead
        # of leaving an item with keys and rooms only.
        values: dict[str, AttributeValueTypeDef] = {
            ":room": {"SS": [room]},
            ":id": {"S": connection.connection_id},
            ":name": {"S": connection.name},
            ":at": {"N": str(connection.connected_at_ms)},
            ":expires": {"N": self._expires_at()},
        }
        sets = [
            "connectionId = :id",
            "#name = if_not_exists(#name, :name)",
            "connectedAt = if_not_exists(connectedAt, :at)",
            f"{TTL_ATTRIBUTE} = if_not_exists({TTL_ATTRIBUTE}, :expires)",
        ]
        if connection.source_ip is not None:
            values[":ip"] = {"S": connection.source_ip}
            sets.append("sourceIp = if_not_exists(sourceIp, :ip)")
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key=record_key(connection.connection_id),
            UpdateExpression=f"SET {', '.join(sets)} {action} rooms :room",
            ExpressionAttributeNames={"#name": "name"},
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
        return _record(response["Attributes"])

    def _rooms_of(self, ids: list[str]) -> dict[str, tuple[str, ...]]:
        rooms: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(ids), BATCH_GET_LIMIT):
            keys: list[Any] = [record_key(connection_id) for connection_id in ids[start : start + BATCH_GET_LIMIT]]
            for attempt in range(UNPROCESSED_ATTEMPTS):
                read = {"Keys": keys, "ProjectionExpression": "connectionId, rooms", "ConsistentRead": True}
                response: Any = self._dynamodb.batch_get_item(RequestItems={self._table: read})  # type: ignore[dict-item]
                for item in response.get("Responses", {}).get(self._table, []):
                    rooms[item["connectionId"]["S"]] = tuple(item["rooms"]["SS"]) if "rooms" in item else ()
                keys = list(response.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", []))
                if not keys:
                    break
                time.sleep(UNPROCESSED_BACKOFF_S * 2**attempt)
            else:
                raise StoreError(f"DynamoDB left {len(keys)} reads unprocessed after {UNPROCESSED_ATTEMPTS} tries")
        return rooms

    def _write_batch(self, requests: list[WriteRequestTypeDef]) -> None:
        pending: list[Any] = requests
        for attempt in range(UNPROCESSED_ATTEMPTS):
            response: Any = self._dynamodb.batch_write_item(RequestItems={self._table: pending})
            pending = list(response.get("UnprocessedItems", {}).get(self._table, []))
            if not pending:
                return
            time.sleep(UNPROCESSED_BACKOFF_S * 2**attempt)
        raise StoreError(f"DynamoDB left {len(pending)} deletes unprocessed after {UNPROCESSED_ATTEMPTS} tries")

    def _ids(self, call: Callable[..., Any], request: dict[str, Any]) -> Iterator[str]:
        request.update(self._page)
        while True:
            page = call(**request)
            for item in page.get("Items", []):
                yield item["connectionId"]["S"]
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _expires_at(self) -> str:
        return str(int(self._clock_s()) + RECORD_TTL_S)

    # --- Presence and history (issue 17) ---

    def members(self, room: str, after: str | None, limit: int) -> tuple[list[Member], str | None]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :room",
            "ProjectionExpression": "connectionId, #name, joinedAt",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#name": "name"},
            "ExpressionAttributeValues": {":room": {"S": ROOM_PREFIX + room}},
            "ConsistentRead": True,
            "Limit": limit,
        }
        if after is not None:
            request["ExclusiveStartKey"] = membership_key(room, after)
        page: Any = self._dynamodb.query(**request)
        members = [
            Member(
                item["connectionId"]["S"],
                # A membership from before members were listed has no name: the record's is one read away.
                item["name"]["S"] if "name" in item else self._name_of(item["connectionId"]["S"]),
                int(item["joinedAt"]["N"]) if "joinedAt" in item else None,
            )
            for item in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        return members, (last[SORT_KEY]["S"][len(CONNECTION_PREFIX) :] if last else None)

    def _name_of(self, connection_id: str) -> str:
        record = self.get(connection_id)
        return record.name if record else "anonymous"

    def append_history(self, room: str, entry: HistoryEntry, expires_at_s: int) -> None:
        # TTL deletes the item some time after expiresAt (typically within days, per DynamoDB's docs); reads
        # never return an entry past the retention anyway (the caller's `after` bound).
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                PARTITION_KEY: {"S": HISTORY_PREFIX + room},
                SORT_KEY: {"S": entry.message_id},
                "frame": {"B": entry.data},
                TTL_ATTRIBUTE: {"N": str(expires_at_s)},
            },
        )

    def history(self, room: str, after: str, limit: int, window: int) -> tuple[list[HistoryEntry], bool]:
        if not window:
            return [], False
        # Newest first, keys only, to find the window's oldest id; then the page's frames, oldest first.
        values: dict[str, Any] = {":room": {"S": HISTORY_PREFIX + room}}
        if after:  # a key value may not be empty: "" bounds nothing, as every id sorts after it
            values[":after"] = {"S": after}
        newest: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :room AND #sk > :after" if after else "#pk = :room",
            "ProjectionExpression": "#sk",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": window,
        }
        ids: list[str] = []
        while len(ids) < window:
            page: Any = self._dynamodb.query(**newest)
            ids.extend(item[SORT_KEY]["S"] for item in page.get("Items", []))
            if not page.get("LastEvaluatedKey"):
                break
            newest["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            newest["Limit"] = window - len(ids)
        kept = list(reversed(ids[:window]))
        wanted = kept[:limit]
        chosen = set(wanted)
        if not wanted:
            return [], False
        frames: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :room AND #sk BETWEEN :first AND :last",
            "ProjectionExpression": "#sk, frame",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": {
                ":room": {"S": HISTORY_PREFIX + room},
                ":first": {"S": wanted[0]},
                ":last": {"S": wanted[-1]},
            },
            "ConsistentRead": True,
        }
        entries: list[HistoryEntry] = []
        while True:
            page = self._dynamodb.query(**frames)
            entries.extend(
                HistoryEntry(item[SORT_KEY]["S"], bytes(item["frame"]["B"]))
                for item in page.get("Items", [])
                if item[SORT_KEY]["S"] in chosen  # not one written between the two queries
            )
            if not page.get("LastEvaluatedKey"):
                break
            frames["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return entries, len(kept) > limit

    # --- Rate limiting (issue 15) ---

    def admit_message(self, connection_id: str, now_us: int, limit: RateLimit) -> Admission:
        return self._admit(rate_key(connection_id), now_us, limit, cost=1)

    def admit_posts(self, spender: Spender, spender_id: str, posts: int, now_us: int, limit: RateLimit) -> Admission:
        return self._admit(budget_key(spender, spender_id), now_us, limit, cost=posts)

    def _admit(self, key: dict[str, AttributeValueTypeDef], now_us: int, limit: RateLimit, cost: int) -> Admission:
        from botocore.exceptions import ClientError

        for _ in range(CONTENDED_ATTEMPTS):
            response = self._dynamodb.get_item(TableName=self._table, Key=key, ConsistentRead=True)
            item = response.get("Item")
            tat_us = int(item[TAT_ATTRIBUTE]["N"]) if item is not None else None
            admission, new_tat_us = decide(tat_us, now_us, limit, cost)
            if new_tat_us is None:
                return admission
            # Written only if the state is still the one read: absent, or the same TAT.
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": PARTITION_KEY}}
                if tat_us is None
                else {
                    "ConditionExpression": "#tat = :read",
                    "ExpressionAttributeNames": {"#tat": TAT_ATTRIBUTE},
                    "ExpressionAttributeValues": {":read": {"N": str(tat_us)}},
                }
            )
            try:
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item={**key, TAT_ATTRIBUTE: {"N": str(new_tat_us)}, TTL_ATTRIBUTE: {"N": self._expires_at()}},
                    **condition,
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                continue  # another message of this connection was admitted since the read: decide again
            return admission
        return refused_after_contention(limit)

    # --- Claims (issue 15; progress, issue 30) ---

    def read_claim(self, token: str) -> ClaimRecord | None:
        response = self._dynamodb.get_item(TableName=self._table, Key=claim_key(token), ConsistentRead=True)
        item = response.get("Item")
        # DynamoDB's TTL deletes an expired item within days, not at once: an expired one reads as absent here.
        if item is None or int(item[TTL_ATTRIBUTE]["N"]) <= self._clock_s():
            return None
        # A claim written before claims had records (no body, no version) reads as an empty record.
        body = item[CLAIM_BODY_ATTRIBUTE]["B"] if CLAIM_BODY_ATTRIBUTE in item else b""
        version = item[CLAIM_VERSION_ATTRIBUTE]["S"] if CLAIM_VERSION_ATTRIBUTE in item else ""
        return ClaimRecord(bytes(body), version)

    def write_claim(self, token: str, body: bytes, version: str | None, expires_at_s: int) -> str | None:
        from botocore.exceptions import ClientError

        check_claim_body(body)
        new_version = uuid.uuid4().hex
        condition: dict[str, Any]
        if version is None:
            condition = {
                "ConditionExpression": "attribute_not_exists(#pk) OR #expires <= :now",
                "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#expires": TTL_ATTRIBUTE},
                "ExpressionAttributeValues": {":now": {"N": str(int(self._clock_s()))}},
            }
        else:
            condition = {
                "ConditionExpression": "#version = :read",
                "ExpressionAttributeNames": {"#version": CLAIM_VERSION_ATTRIBUTE},
                "ExpressionAttributeValues": {":read": {"S": version}},
            }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **claim_key(token),
                    CLAIM_BODY_ATTRIBUTE: {"B": body},
                    CLAIM_VERSION_ATTRIBUTE: {"S": new_version},
                    TTL_ATTRIBUTE: {"N": str(expires_at_s)},
                },
                **condition,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return None
        return new_version
