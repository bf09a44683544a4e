"""Fan-out: post one frame to many connections at once, prune the gone ones, report what happened.

Posts run on a bounded thread pool sharing one `Poster` (see `management_api`: one keep-alive HTTP
connection per thread). A 410 Gone removes the connection from the store; any other failure
is counted and logged and never stops delivery to the others.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .logs import get_logger
from .store import ConnectionStore

MAX_FAILURES_LOGGED = 5
"""Failed posts logged one by one per fan-out; the rest are only counted, so one bad fan-out cannot flood logs."""


class Outcome(Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    FAILED = "failed"


@dataclass(frozen=True)
class PostResult:
    outcome: Outcome
    error: str | None = None


DELIVERED = PostResult(Outcome.DELIVERED)
GONE = PostResult(Outcome.GONE)


class Poster(Protocol):
    """Sends one frame to one connection; never raises: failures come back as `PostResult`."""

    def post(self, connection_id: str, data: bytes) -> PostResult: ...


@dataclass(frozen=True)
class FanoutSummary:
    recipients: int
    delivered: int
    gone: int
    failed: int
    ms: int

    def as_log_fields(self) -> dict[str, int]:
        return {
            "recipients": self.recipients,
            "delivered": self.delivered,
            "gone": self.gone,
            "failed": self.failed,
            "ms": self.ms,
        }


def fan_out(
    *,
    connection_ids: Iterable[str],
    data: bytes,
    poster: Poster,
    executor: Executor,
    store: ConnectionStore,
    logger: logging.Logger,
    room: str | None = None,
    log_fields: Mapping[str, object] | None = None,
) -> FanoutSummary:
    """Post `data` to every id, prune the gone ones from the store, log and return the summary."""
    started = time.perf_counter()
    ids = list(dict.fromkeys(connection_ids))
    results = list(executor.map(lambda connection_id: _post_guarded(poster, connection_id, data), ids))
    gone = [cid for cid, result in zip(ids, results, strict=True) if result.outcome is Outcome.GONE]
    failures = [(cid, r.error) for cid, r in zip(ids, results, strict=True) if r.outcome is Outcome.FAILED]
    for connection_id, error in failures[:MAX_FAILURES_LOGGED]:
        logger.warning("post failed", extra={"target": connection_id, "error": error})
    if gone:
        _prune(store, gone, room, logger)
    summary = FanoutSummary(
        recipients=len(ids),
        delivered=len(ids) - len(gone) - len(failures),
        gone=len(gone),
        failed=len(failures),
        ms=round((time.perf_counter() - started) * 1000),
    )
    fields: dict[str, object] = {**summary.as_log_fields(), **(log_fields or {})}
    if failures:
        fields["errors"] = dict(Counter(str(error) for _, error in failures))
    logger.info("fanout", extra=fields)
    return summary


def _post_guarded(poster: Poster, connection_id: str, data: bytes) -> PostResult:
    # A Poster should not raise; if one does anyway, that recipient fails and the others still get the frame.
    try:
        return poster.post(connection_id, data)
    except Exception as error:
        return PostResult(Outcome.FAILED, type(error).__name__)


def post_one(*, connection_id: str, data: bytes, poster: Poster, store: ConnectionStore) -> PostResult:
    """Post to a single connection (replies, direct messages); a gone one is pruned."""
    result = _post_guarded(poster, connection_id, data)
    if result.outcome is Outcome.GONE:
        _prune(store, [connection_id], None, get_logger())
    return result


def _prune(store: ConnectionStore, gone: list[str], room: str | None, logger: logging.Logger) -> None:
    # The posts went out already: answering the sender `internal_error` now would have it retry and everyone get
    # the message twice. A gone id that stays in the store is found gone again by the next post.
    try:
        store.remove(gone, room=room)
    except Exception as error:
        logger.warning("prune failed", extra={"gone": len(gone), "error": type(error).__name__})
