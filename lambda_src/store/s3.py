"""`ConnectionStore` on an S3 bucket: the default store.

Layout: `connections/<id>` holds a small JSON record per live connection, `rooms/<room>/<id>` a small object
per membership, `rates/<id>` the connection's rate-limit state (its TAT in microseconds, as text), written only with
S3's conditional writes (`If-Match` on the ETag read, `If-None-Match: *` for the first one), `claims/<token>` the
record of one part of a delivery (`If-None-Match: *` or `If-Match`: one winner; its expiry in its metadata).
Connection ids are percent-encoded in keys because AWS's ids are base64 and may contain `/`.
`history/<room>/<message id>` holds each message of a room's history; ids sort as text in time order (see
`message_ids`), so
`StartAfter=history/<room>/<id>` lists exactly what came after an id, oldest first. Listing is paginated (1,000 keys
a page), deletes are batched (`delete_objects`, 1,000 keys a call).

Segments split the listing itself: S3 lists keys in UTF-8 order, and connection ids are random base64 (API Gateway's
are base64 of random bytes), so the key space after `connections/` is cut into `segments` ranges of equal share of
the base64 alphabet and each segment lists only its own range (`StartAfter`, then stops past its end). Every key
falls in exactly one range whatever its id; only the balance relies on random ids.
"""

from __future__ import annotations

import json
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

from lambda_src.errors import StoreError
from lambda_src.store.contract import (
    RECORD_READ_CONCURRENCY,
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
    from mypy_boto3_s3 import S3Client

Result = TypeVar("Result")

CONNECTIONS_PREFIX = "connections/"
ROOMS_PREFIX = "rooms/"
HISTORY_PREFIX = "history/"
"""`history/<room>/<message id>`: one object per message, its body the frame as delivered (issue 17)."""
RATES_PREFIX = "rates/"
CLAIMS_PREFIX = "claims/"
"""`claims/<token>`: one object per part of a delivery (a push, a shard, a segment, a continuation): who posts it and
what it has posted (`delivery.claims`), written only with conditional writes."""
CLAIM_EXPIRY_METADATA = "expires-at"
"""User metadata of a claim object: the epoch second after which it reads as absent (the lifecycle rule deletes
claims after whole days only)."""
STORE_PREFIXES = (CONNECTIONS_PREFIX, ROOMS_PREFIX, RATES_PREFIX, CLAIMS_PREFIX)
"""Every key prefix the store writes: deployment/ grants the function these alone and expires each (a test holds
deployment/locals.tf's `store_prefixes` equal)."""
CONDITIONAL_WRITE_LOST = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"})
"""S3's answers to a conditional PUT that lost a race: 412 (the ETag changed, or the key appeared under
`If-None-Match: *`), 409 (a concurrent conditional write; "retry", says S3), 404 (the key was deleted under
`If-Match`). https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html"""
RECORD_UPDATE_ATTEMPTS = 64
"""Conditional writes one join or leave tries: each lost race is another update of the same record that landed, and
one connection's frames are few at a time (its rate limit's burst), so this many is never reached in practice."""
S3_DELETE_BATCH = 1000
"""`delete_objects` takes at most this many keys a call."""
BASE64_SYMBOLS = tuple(sorted(quote(c, safe="") for c in string.ascii_letters + string.digits + "+/"))
"""The first characters of a connection id as they appear in keys (percent-encoded), in S3's listing order."""
SEGMENT_KEY_DEPTH = 3
"""Segment boundaries are cut at the first this-many symbols of an id: 64**3 = 262,144 possible boundaries."""


def connection_key(connection_id: str) -> str:
    return CONNECTIONS_PREFIX + quote(connection_id, safe="")


def claim_key(token: str) -> str:
    return CLAIMS_PREFIX + quote(token, safe="")


def rate_key(connection_id: str) -> str:
    return RATES_PREFIX + quote(connection_id, safe="")


def budget_key(spender: Spender, spender_id: str) -> str:
    """`rates/posts/<spender>/<id>`: under the rate prefix (its grant and its expiry), never a message rate's key,
    whose id is percent-encoded and so has no `/`."""
    return f"{RATES_PREFIX}posts/{spender.value}/{quote(spender_id, safe='')}"


def membership_key(room: str, connection_id: str) -> str:
    return f"{ROOMS_PREFIX}{room}/{quote(connection_id, safe='')}"


LIST_PAGE_KEYS = 1000
"""ListObjectsV2's largest page (its default `MaxKeys`)."""
FIRST_PAGE_MARGIN = 1.25
"""A hinted first page holds this many times the ids expected (and a few more), so that a segment a little above
its expected size still fits in one request."""


def first_page_keys(expected: int) -> int:
    """`MaxKeys` of the first page of a listing expected to hold about `expected` keys."""
    return max(1, min(LIST_PAGE_KEYS, int(expected * FIRST_PAGE_MARGIN) + 8))


def segment_bound(index: int, segments: int) -> str | None:
    """The key after `connections/` that ends segment `index - 1` and starts (exclusively) segment `index`.

    Segment k lists the keys in (bound(k), bound(k + 1)]; bound(0) and bound(segments) are None (open ends).
    """
    if index <= 0 or index >= segments:
        return None
    base = len(BASE64_SYMBOLS)
    position = index * base**SEGMENT_KEY_DEPTH // segments
    symbols = []
    for _ in range(SEGMENT_KEY_DEPTH):
        position, digit = divmod(position, base)
        symbols.append(BASE64_SYMBOLS[digit])
    return "".join(reversed(symbols))


class S3ConnectionStore:
    """`ConnectionStore` on an S3 bucket (paginated listing, deletes batched by 1,000, segments by key range)."""

    def __init__(self, client: S3Client, bucket: str, clock_s: Callable[[], float] = time.time) -> None:
        self._s3 = client
        self._bucket = bucket
        self._clock_s = clock_s

    @classmethod
    def from_session(cls, session: Any, bucket: str, client_config: Any) -> S3ConnectionStore:
        """The store on `bucket` with a client of this boto3 session (endpoint from the environment)."""
        return cls(session.client("s3", config=client_config), bucket)

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
        counted = len(keys)
        keys.extend(rate_key(connection_id) for connection_id in ids)
        keys.extend(budget_key(Spender.CONNECTION, connection_id) for connection_id in ids)
        for start in range(0, len(keys), S3_DELETE_BATCH):
            batch = keys[start : start + S3_DELETE_BATCH]
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        return counted

    def connection_ids(self, segment: int = 0, segments: int = 1, expected: int | None = None) -> Iterator[str]:
        check_segment(segment, segments)
        after, through = segment_bound(segment, segments), segment_bound(segment + 1, segments)
        first_page = LIST_PAGE_KEYS if expected is None else first_page_keys(expected)
        return self._list_ids(CONNECTIONS_PREFIX, after, through, first_page)

    def room_members(self, room: str) -> Iterator[str]:
        return self._list_ids(f"{ROOMS_PREFIX}{room}/")

    def join(self, connection: Connection, room: str, joined_at_ms: int | None = None) -> Connection:
        # The membership's body is what `members` shows; listing members for a fan-out reads keys only.
        member = {
            "name": connection.name,
            "joinedAt": connection.connected_at_ms if joined_at_ms is None else joined_at_ms,
        }
        self._s3.put_object(
            Bucket=self._bucket,
            Key=membership_key(room, connection.connection_id),
            Body=json.dumps(member).encode("utf-8"),
            ContentType="application/json",
        )
        if room in connection.rooms:
            return connection
        return self._update_rooms(connection, lambda rooms: rooms if room in rooms else (*rooms, room))

    def leave(self, connection: Connection, room: str) -> Connection:
        self._s3.delete_object(Bucket=self._bucket, Key=membership_key(room, connection.connection_id))
        return self._update_rooms(connection, lambda rooms: tuple(r for r in rooms if r != room))

    def _update_rooms(self, connection: Connection, change: Callable[[tuple[str, ...]], tuple[str, ...]]) -> Connection:
        """Apply `change` to the stored record's rooms with a conditional write (`If-Match` on the ETag read), read
        again and retried when another update won the race: concurrent joins and leaves of one connection (two
        invocations) never lose one another. A record already gone (disconnected) is written from the caller's
        copy, as `add` would (`If-None-Match: *`, so a concurrent write is not overwritten)."""

        def update(body: bytes | None) -> tuple[bytes, Connection]:
            current = connection if body is None else Connection.from_json(body)
            updated = replace(current, rooms=change(current.rooms))
            return updated.to_json(), updated

        key = connection_key(connection.connection_id)
        updated = self._conditional_update(key, RECORD_UPDATE_ATTEMPTS, "application/json", update)
        if updated is None:
            raise StoreError(
                f"the record of {connection.connection_id} kept changing during {RECORD_UPDATE_ATTEMPTS} updates"
            )
        return updated

    def _conditional_update(
        self, key: str, attempts: int, content_type: str, update: Callable[[bytes | None], tuple[bytes | None, Result]]
    ) -> Result | None:
        """Write what `update` makes of the object's body (None: no object) only if nobody wrote it since the read:
        `If-Match` on the ETag read, `If-None-Match: *` when there was none. A lost race (412, 409, 404) reads
        again and applies `update` to what won, up to `attempts` times; None when every attempt lost. `update`
        returning no body writes nothing and its result is returned at once."""
        from botocore.exceptions import ClientError

        for _ in range(attempts):
            condition: dict[str, Any]
            try:
                response = self._s3.get_object(Bucket=self._bucket, Key=key)
            except self._s3.exceptions.NoSuchKey:
                body, condition = None, {"IfNoneMatch": "*"}
            else:
                body, condition = response["Body"].read(), {"IfMatch": response["ETag"]}
            written, result = update(body)
            if written is None:
                return result
            try:
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=written, ContentType=content_type, **condition)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in CONDITIONAL_WRITE_LOST:
                    raise
                continue  # another write landed since the read: apply the update to it
            return result
        return None

    def _put_record(self, connection: Connection) -> None:
        self._s3.put_object(
            Bucket=self._bucket,
            Key=connection_key(connection.connection_id),
            Body=connection.to_json(),
            ContentType="application/json",
        )

    def _list_ids(
        self, prefix: str, after: str | None = None, through: str | None = None, first_page: int = LIST_PAGE_KEYS
    ) -> Iterator[str]:
        request: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": first_page}
        if after is not None:
            request["StartAfter"] = prefix + after
        end = None if through is None else prefix + through
        while True:
            page = self._s3.list_objects_v2(**request)
            for item in page.get("Contents", []):
                key = item["Key"]
                if end is not None and key > end:
                    return
                yield unquote(key[len(prefix) :])
            if not page.get("IsTruncated"):
                return
            request = {**request, "MaxKeys": LIST_PAGE_KEYS, "ContinuationToken": page["NextContinuationToken"]}

    # --- Presence and history (issue 17) ---

    def members(self, room: str, after: str | None, limit: int) -> tuple[list[Member], str | None]:
        prefix = f"{ROOMS_PREFIX}{room}/"
        request: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": limit}
        if after is not None:
            request["StartAfter"] = membership_key(room, after)
        page = self._s3.list_objects_v2(**request)
        ids = [unquote(item["Key"][len(prefix) :]) for item in page.get("Contents", [])]
        if not ids:
            return [], None
        with ThreadPoolExecutor(max_workers=min(RECORD_READ_CONCURRENCY, len(ids))) as pool:
            members = [m for m in pool.map(lambda cid: self._member(room, cid), ids) if m is not None]
        return members, ids[-1] if page.get("IsTruncated") else None

    def _member(self, room: str, connection_id: str) -> Member | None:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=membership_key(room, connection_id))["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None  # left between the listing and this read
        if not body:
            # A membership written before members were listed (empty body): the record still names it.
            record = self.get(connection_id)
            return Member(connection_id, record.name if record else "anonymous", None)
        member = json.loads(body)
        return Member(connection_id, member["name"], member.get("joinedAt"))

    def append_history(self, room: str, entry: HistoryEntry, expires_at_s: int) -> None:
        # Expiry is the bucket's lifecycle rule on history/ (deployment/store.tf), in whole days; reads never
        # return an entry past the retention whatever the rule has deleted yet (the caller's `after` bound).
        self._s3.put_object(Bucket=self._bucket, Key=history_key(room, entry.message_id), Body=entry.data)

    def history(self, room: str, after: str, limit: int, window: int) -> tuple[list[HistoryEntry], bool]:
        prefix = f"{HISTORY_PREFIX}{room}/"
        ids = list(self._list_ids(prefix, after))
        kept = ids[-window:] if window else []
        page = kept[:limit]
        if not page:
            return [], False
        with ThreadPoolExecutor(max_workers=min(RECORD_READ_CONCURRENCY, len(page))) as pool:
            bodies = list(pool.map(lambda mid: self._history_body(room, mid), page))
        entries = [HistoryEntry(mid, body) for mid, body in zip(page, bodies, strict=True) if body is not None]
        return entries, len(kept) > limit

    def _history_body(self, room: str, message_id: str) -> bytes | None:
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=history_key(room, message_id))["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None  # expired by the lifecycle rule between the listing and this read
        return body

    # --- Rate limiting (issue 15) ---

    def admit_message(self, connection_id: str, now_us: int, limit: RateLimit) -> Admission:
        def update(body: bytes | None) -> tuple[bytes | None, Admission]:
            admission, new_tat_us = decide(None if body is None else int(body), now_us, limit)
            return (None if new_tat_us is None else str(new_tat_us).encode()), admission

        admission = self._conditional_update(rate_key(connection_id), CONTENDED_ATTEMPTS, "text/plain", update)
        return refused_after_contention(limit) if admission is None else admission

    def admit_posts(self, spender: Spender, spender_id: str, posts: int, now_us: int, limit: RateLimit) -> Admission:
        def update(body: bytes | None) -> tuple[bytes | None, Admission]:
            admission, new_tat_us = decide(None if body is None else int(body), now_us, limit, cost=posts)
            return (None if new_tat_us is None else str(new_tat_us).encode()), admission

        key = budget_key(spender, spender_id)
        admission = self._conditional_update(key, CONTENDED_ATTEMPTS, "text/plain", update)
        return refused_after_contention(limit) if admission is None else admission

    # --- Claims (issue 15; progress, issue 30) ---

    def read_claim(self, token: str) -> ClaimRecord | None:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=claim_key(token))
        except self._s3.exceptions.NoSuchKey:
            return None
        if self._expired(response.get("Metadata", {})):
            return None
        return ClaimRecord(response["Body"].read(), response["ETag"])

    def write_claim(self, token: str, body: bytes, version: str | None, expires_at_s: int) -> str | None:
        from botocore.exceptions import ClientError

        check_claim_body(body)
        key = claim_key(token)
        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
        replacing_expired = False
        for _ in range(RECORD_UPDATE_ATTEMPTS):
            try:
                response = self._s3.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=body,
                    Metadata={CLAIM_EXPIRY_METADATA: str(expires_at_s)},
                    **condition,  # type: ignore[arg-type]
                )
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "ConditionalRequestConflict":
                    continue  # a concurrent conditional write is in flight: S3 says retry, and one of them then wins
                if code not in CONDITIONAL_WRITE_LOST:
                    raise
                if version is not None or replacing_expired:
                    return None  # another write landed since that version was read
                # There is a record: replace it only if it has expired (and nobody replaced it since).
                expired = self._expired_etag(key)
                if expired is None:
                    return None
                condition, replacing_expired = {"IfMatch": expired}, True
                continue
            return str(response["ETag"])
        raise StoreError("a claim stayed contended")

    def _expired_etag(self, key: str) -> str | None:
        """The ETag of the claim at `key` if it has expired; None if it has not (or is gone: the next create wins)."""
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except self._s3.exceptions.ClientError:
            return None
        return str(head["ETag"]) if self._expired(head.get("Metadata", {})) else None

    def _expired(self, metadata: Mapping[str, str]) -> bool:
        # A claim written before records had an expiry (an empty body, no metadata) never expires here: the
        # bucket's lifecycle rule deletes it with the other claims.
        expires_at = metadata.get(CLAIM_EXPIRY_METADATA)
        return expires_at is not None and int(expires_at) <= self._clock_s()


def history_key(room: str, message_id: str) -> str:
    return f"{HISTORY_PREFIX}{room}/{message_id}"
