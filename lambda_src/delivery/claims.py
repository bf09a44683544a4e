"""Claims: one poster at a time per part of a delivery, and a record of whom it posted to, so a retry posts the rest.

A *part* is what one asynchronous invocation delivers: one SNS record (a push), a shard's ids, a segment of the store,
a continuation's ids. Lambda runs such an invocation again when it fails ("If the function returns an error, Lambda
attempts to run it two more times", the developer guide's "How Lambda handles errors and retries with asynchronous
invocation"), and may deliver one event more than once even when nothing failed (same page: "the queue itself is
eventually consistent"). So before it posts, the invocation *holds* the part's claim in the store
(`ConnectionStore.read_claim`/`write_claim`, conditional writes: one winner), and the claim's record says:

- who holds it and until when (`owner`, `leaseUntilMs`: the holder's own deadline, after which Lambda has ended it);
- whom the part has answered (delivered, gone, failed for good, or handed to a continuation): a digest of each id;
- whether the part ran to its end (`complete`), and a few facts an attempt must share with its retries (a room
  push's history id, a broadcast's segment count).

Whoever holds a part posts only to its ids that the record has not answered, and records each answer as it comes:
every `CHECKPOINT_INTERVAL_S` while posting, and when it lets go (`release`), also when it is about to raise. So a
retry after an exception posts to nobody the failed attempt had reached; after a crash (a killed process, no
`release`) it repeats at most the posts of the last `CHECKPOINT_INTERVAL_S`. An event delivered twice at once waits
for the holder (`hold(wait=True)`), then finds nothing left to post. A complete part is never posted again.

The record's token names the part; a part that splits names its shards and segments after itself (`child_token`),
so a retry that splits again (the same listing, the same plan) finds the same claims, and posts nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from lambda_src.aws import deadline
from lambda_src.aws.posting import DEADLINE_MARGIN_MS
from lambda_src.errors import PartBusy
from lambda_src.observability.context import current_request_id
from lambda_src.services import Services
from lambda_src.store.contract import MAX_CLAIM_BYTES, RECORD_TTL_S

DIGEST_BYTES = 8
"""Each answered id is kept as this many bytes of its BLAKE2b digest: two ids of one part share one with a chance
of about n² / 2**65 (1e-13 for a part of 1,000)."""
HEADER_ROOM_BYTES = 4096
MAX_TRACKED_IDS = (MAX_CLAIM_BYTES - HEADER_ROOM_BYTES) // DIGEST_BYTES
"""Answers one record keeps (43,238): more than a shard of `SHARD_SIZE` ids can hold within Lambda's asynchronous
payload. A part with more (sharding off, and a larger audience) records its first ones only: a retry may post the
rest of it twice."""
CHECKPOINT_INTERVAL_S = 1.0
"""While a part posts, its answers are written at most this often: what a crashed attempt's retry may post twice."""
WAIT_POLL_S = 0.2
"""How often an invocation waiting for a part held by another one reads the claim again."""
LEASE_WITHOUT_DEADLINE_MS = 900_000
"""The lease of an invocation that does not know its deadline (a test): Lambda's longest timeout."""
CLAIM_TTL_S = RECORD_TTL_S
"""A claim's record is kept this long after its last write: a retry or a replay within it resumes the part."""


def digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=DIGEST_BYTES).digest()


def child_token(kind: str, parent: str, index: int | str) -> str:
    """The token of part `index` of `kind` (`shard`, `segment`, `continuation`) that part (or invocation) `parent`
    splits off: the same for every attempt of the parent, short whatever the parent's token."""
    return f"{kind}/{digest(parent).hex()}/{index}"


def legacy_shard_token(origin: str | None, index: int) -> str | None:
    """The token of a shard event that names none (sent by code before claims had records): None without an origin."""
    return None if origin is None else f"shard/{origin}/{index}"


def legacy_segment_token(origin: str | None, segment: int, segments: int) -> str | None:
    return None if origin is None else f"segment/{origin}/{segment}-of-{segments}"


def splitting_parent(part: Part | None) -> str:
    """What a fan-out names the parts it splits off after: its part's token, or (an invocation that holds none, a
    `broadcast` route) its own request id, which no other invocation has."""
    if part is not None:
        return part.lineage
    return current_request_id() or f"local-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class ClaimState:
    """A claim's record: a JSON header line, then the answered ids' digests back to back."""

    owner: str | None = None
    lease_until_ms: int = 0
    complete: bool = False
    facts: dict[str, Any] = field(default_factory=dict)
    answered: bytes = b""
    started_at_ms: int = 0
    """When the first attempt of this delivery held the part (what an idempotency window counts from)."""
    generation: int = 0
    """How many deliveries under this token came before this one (a key used again after its window)."""

    def encode(self) -> bytes:
        header = {
            "owner": self.owner,
            "leaseUntilMs": self.lease_until_ms,
            "complete": self.complete,
            "facts": self.facts,
            "startedAtMs": self.started_at_ms,
            "generation": self.generation,
        }
        return json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + self.answered

    @classmethod
    def decode(cls, body: bytes) -> ClaimState:
        if not body:
            # A claim of the code before records (an empty object): its part was posted by whoever took it.
            return cls(complete=True)
        header, _, answered = body.partition(b"\n")
        fields = json.loads(header)
        return cls(
            owner=fields.get("owner"),
            lease_until_ms=int(fields.get("leaseUntilMs", 0)),
            complete=bool(fields.get("complete", False)),
            facts=dict(fields.get("facts", {})),
            answered=answered,
            started_at_ms=int(fields.get("startedAtMs", 0)),
            generation=int(fields.get("generation", 0)),
        )

    def leased(self, now_ms: int) -> bool:
        return self.owner is not None and self.lease_until_ms > now_ms


def _wall_ms() -> int:
    # Leases are compared across execution environments: the wall clock (NTP-synchronised on Lambda's hosts).
    return time.time_ns() // 1_000_000


def _digests(answered: bytes) -> Iterator[bytes]:
    for start in range(0, len(answered) - DIGEST_BYTES + 1, DIGEST_BYTES):
        yield answered[start : start + DIGEST_BYTES]


def hold(token: str, services: Services, *, wait: bool, window_s: float | None = None) -> Part | None:
    """Hold the part `token` for this invocation; None when there is nothing for it to post: the part is complete,
    or (`wait` False) another invocation holds it now.

    With `wait`, a part held by another invocation is waited for until that one lets go or its lease ends (it cannot
    post after its deadline); `PartBusy` if this invocation's own deadline comes first (Lambda then retries it).
    With `window_s` (an idempotency key's window), a part completed longer than that after its first attempt started
    is a new delivery under the same token: held afresh, its splits named anew (`Part.lineage`).
    """
    owner = current_request_id() or f"local-{uuid.uuid4().hex}"
    while True:
        record = services.store.read_claim(token)
        state = ClaimState() if record is None else ClaimState.decode(record.body)
        now = _wall_ms()
        if state.complete:
            if window_s is None or now - state.started_at_ms < window_s * 1000:
                return None
            state = ClaimState(generation=state.generation + 1)
        if not state.started_at_ms:
            state = replace(state, started_at_ms=now)
        if state.leased(now):
            if not wait:
                return None
            left = deadline.remaining_ms()
            if left is not None and left <= DEADLINE_MARGIN_MS + WAIT_POLL_S * 1000:
                raise PartBusy(f"{token} is still held by {state.owner}")
            time.sleep(min(WAIT_POLL_S, max(0.0, (state.lease_until_ms - now) / 1000)))
            continue
        left = deadline.remaining_ms()
        held = replace(state, owner=owner, lease_until_ms=now + (LEASE_WITHOUT_DEADLINE_MS if left is None else left))
        version = services.store.write_claim(
            token, held.encode(), None if record is None else record.version, int(time.time()) + CLAIM_TTL_S
        )
        if version is not None:
            return Part(token, held, version, services)
        # Another invocation wrote the claim since it was read: read it again.


class Part:
    """A part this invocation holds: which of its ids are still to post, and the record of those answered.

    Thread-safe: the fan-out's lanes call `answered` as their posts are answered. Use as a context manager: leaving
    it releases the claim, complete unless an exception is leaving too.
    """

    def __init__(self, token: str, state: ClaimState, version: str, services: Services) -> None:
        self.token = token
        self._state = state
        self._version: str | None = version
        self._services = services
        self._answered = set(_digests(state.answered))
        self._order = list(dict.fromkeys(_digests(state.answered)))
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._unwritten = 0
        self._last_write = time.monotonic()

    @property
    def lineage(self) -> str:
        """What the parts this one splits off are named after: its token, and which delivery under it this is."""
        generation = self._state.generation
        return self.token if generation == 0 else f"{self.token}#{generation}"

    @property
    def resumed(self) -> bool:
        """Whether an earlier attempt answered some of this part already."""
        return bool(self._state.answered)

    def pending(self, ids: Iterable[str]) -> list[str]:
        """`ids` (once each, in order) that this part has not answered yet."""
        with self._lock:
            return [cid for cid in dict.fromkeys(ids) if digest(cid) not in self._answered]

    def answered(self, connection_id: str) -> None:
        """Record that `connection_id` needs nothing more from this part; written with the next checkpoint."""
        self.answered_all((connection_id,))

    def answered_all(self, ids: Iterable[str]) -> None:
        with self._lock:
            for connection_id in ids:
                key = digest(connection_id)
                if key not in self._answered:
                    self._answered.add(key)
                    self._order.append(key)
                    self._unwritten += 1
            due = self._unwritten and time.monotonic() - self._last_write >= CHECKPOINT_INTERVAL_S
        if due:
            self._write(blocking=False)

    def fact(self, name: str) -> Any:
        """A fact an earlier attempt remembered (`remember`), or None."""
        return self._state.facts.get(name)

    def remember(self, name: str, value: Any) -> Any:
        """Keep `value` under `name` for every later attempt of this part (written now); returns the value kept,
        which is an earlier attempt's if there was one."""
        kept = self._state.facts.get(name)
        if kept is not None:
            return kept
        self._state = replace(self._state, facts={**self._state.facts, name: value})
        if not self._write(blocking=True):
            raise PartBusy(f"{self.token}: could not record {name}")
        return value

    def checkpoint(self) -> bool:
        """Write the answers recorded so far; False when the write failed (logged)."""
        return self._write(blocking=True)

    def release(self, *, complete: bool) -> None:
        """Write the answers and let the part go: `complete` when it ran to its end (nothing is posted again), else
        it is left for a retry, which posts what was not answered."""
        self._write(blocking=True, lease_until_ms=0, complete=complete)

    def __enter__(self) -> Part:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release(complete=kind is None)

    def _write(self, *, blocking: bool, lease_until_ms: int | None = None, complete: bool = False) -> bool:
        if not self._writing.acquire(blocking=blocking):
            return True  # another lane is writing: these answers go with the next write
        try:
            if self._version is None:
                return False  # taken over by another invocation: this one writes no more
            with self._lock:
                answered = b"".join(self._order[:MAX_TRACKED_IDS])
                unwritten, self._unwritten = self._unwritten, 0
            state = replace(self._state, answered=answered, complete=complete)
            if lease_until_ms is not None:
                state = replace(state, lease_until_ms=lease_until_ms)
            try:
                version = self._services.store.write_claim(
                    self.token, state.encode(), self._version, int(time.time()) + CLAIM_TTL_S
                )
            except Exception as error:
                with self._lock:
                    self._unwritten += unwritten
                self._services.logger.warning(
                    "claim not written", extra={"claim": self.token, "error": type(error).__name__}
                )
                return False
            if version is None:
                self._version = None
                self._services.logger.warning("claim taken over by another invocation", extra={"claim": self.token})
                return False
            self._version, self._state, self._last_write = version, state, time.monotonic()
            return True
        finally:
            self._writing.release()
