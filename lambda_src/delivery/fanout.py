"""Fan-out: post one frame to many connections at once, prune the gone ones, report what happened.

Posts run on a bounded thread pool sharing one `Poster` (see `management_api`: one keep-alive HTTP
connection per thread). A 410 Gone removes the connection from the store; any other failure
is counted and logged and never stops delivery to the others. A 429 (the account's `@connections` quota) is
never a failure: the fan-out slows down (`pacing`) and posts it again, until it is delivered or the invocation's
deadline nears; then the posts not made yet are left in the summary's `unfinished`, and handed to `continue_with`
(see `continuation`), which starts another invocation to post them.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, wait
from dataclasses import dataclass

from lambda_src.aws import deadline
from lambda_src.aws.posting import (
    DEADLINE_MARGIN_MS,
    THROTTLED,
    UNFINISHED,
    Outcome,
    Poster,
    PostResult,
)
from lambda_src.config import DEFAULT_FANOUT_CONCURRENCY
from lambda_src.delivery.pacing import QuotaPacer
from lambda_src.delivery.plan import Sender
from lambda_src.observability.logs import get_logger
from lambda_src.store.contract import ConnectionStore

Answered = Callable[[Iterable[str]], None]
"""Told of the ids a fan-out is done with (`fan_out`'s `on_answered`)."""

MAX_FAILURES_LOGGED = 5
"""Failed posts logged one by one per fan-out; the rest are only counted, so one bad fan-out cannot flood logs."""
SINGLE_POST_THROTTLED_ATTEMPTS = 8
"""A single post (reply, direct message) answered 429 is tried this many times, backing off with full jitter."""
SINGLE_POST_BASE_BACKOFF_S = 0.05
SINGLE_POST_MAX_BACKOFF_S = 2.0


@dataclass(frozen=True)
class FanoutSummary:
    recipients: int
    delivered: int
    gone: int
    failed: int
    ms: int
    throttled: int = 0
    """429s seen (each was posted again, or left unfinished)."""
    posts_per_s: float = 0.0
    """Achieved rate: posts answered other than 429 per second of posting."""
    unfinished: tuple[str, ...] = ()
    """Recipients not posted to because the deadline neared: what a continuation invocation posts."""
    continued: int = 0
    """Of `unfinished`, how many were handed to continuation invocations (the rest are lost, and logged)."""

    def plus(self, other: FanoutSummary) -> FanoutSummary:
        """Both fan-outs' counts together (one invocation that posted several parts), for its answer."""
        ms = self.ms + other.ms
        answered = (self.recipients - len(self.unfinished)) + (other.recipients - len(other.unfinished))
        return FanoutSummary(
            recipients=self.recipients + other.recipients,
            delivered=self.delivered + other.delivered,
            gone=self.gone + other.gone,
            failed=self.failed + other.failed,
            ms=ms,
            throttled=self.throttled + other.throttled,
            posts_per_s=round(answered / (ms / 1000), 1) if ms > 0 else 0.0,
            unfinished=self.unfinished + other.unfinished,
            continued=self.continued + other.continued,
        )

    def as_log_fields(self) -> dict[str, int | float]:
        return {
            "recipients": self.recipients,
            "delivered": self.delivered,
            "gone": self.gone,
            "failed": self.failed,
            "unfinished": len(self.unfinished),
            "continued": self.continued,
            "throttled": self.throttled,
            "postsPerS": self.posts_per_s,
            "ms": self.ms,
        }


def fan_out(
    connection_ids: Iterable[str],
    data: bytes,
    sender: Sender,
    *,
    room: str | None = None,
    continue_with: Callable[[tuple[str, ...]], tuple[str, ...]] | None = None,
    on_answered: Answered | None = None,
) -> FanoutSummary:
    """Post `data` to every id with `sender`, prune the gone ones from the store (and `room`), log and return the
    summary; the summary line carries the fields of the `log_context` it runs in (a shard's, a segment's).

    The posts share one `QuotaPacer`: unpaced until the first 429, then paced to what the quota lets through.
    What the deadline left unposted goes to `continue_with` (it returns the ids it handed on), before the
    summary is logged, so the line says how many were continued. `on_answered` hears of every id this fan-out is
    done with, the moment it is: each post answered (delivered, gone or failed for good, called from the posting
    thread before anything else), and the ids handed on. If a post raises nonetheless (a bug), the other lanes stop
    starting posts, every post in flight is answered, and then the error is raised.
    """
    started = time.perf_counter()
    ids = list(dict.fromkeys(connection_ids))
    pacer = QuotaPacer()
    results = _post_all(ids, data, sender.poster, pacer, sender.executor, on_answered=on_answered)
    seconds = time.perf_counter() - started
    gone = [cid for cid, result in zip(ids, results, strict=True) if result.outcome is Outcome.GONE]
    failures = [(cid, r.error) for cid, r in zip(ids, results, strict=True) if r.outcome is Outcome.FAILED]
    unfinished = tuple(cid for cid, r in zip(ids, results, strict=True) if r.outcome is Outcome.UNFINISHED)
    for connection_id, error in failures[:MAX_FAILURES_LOGGED]:
        sender.logger.warning("post failed", extra={"target": connection_id, "error": error})
    # The hand-off first: it is what keeps the rest from being lost, and pruning may be slow near the deadline.
    handed = continue_with(unfinished) if unfinished and continue_with is not None else ()
    if handed and on_answered is not None:
        on_answered(handed)
    continued = len(handed)
    if gone:
        _prune(sender.store, gone, room, sender.logger)
    answered = len(ids) - len(unfinished)
    summary = FanoutSummary(
        recipients=len(ids),
        delivered=answered - len(gone) - len(failures),
        gone=len(gone),
        failed=len(failures),
        ms=round(seconds * 1000),
        throttled=pacer.throttled,
        posts_per_s=round(answered / seconds, 1) if seconds > 0 else 0.0,
        unfinished=unfinished,
        continued=continued,
    )
    fields: dict[str, object] = {**summary.as_log_fields()}
    if failures:
        fields["errors"] = dict(Counter(str(error) for _, error in failures))
    sender.logger.info("fanout", extra=fields)
    return summary


def _post_all(
    ids: list[str], data: bytes, poster: Poster, pacer: QuotaPacer, executor: Executor, *, on_answered: Answered | None
) -> list[PostResult]:
    # One task per thread of the pool ("lane"), each taking the next recipient until none is left: a task and a
    # future per recipient (`executor.map`) cost a fifth of the function's CPU per post once posting was lean.
    results: list[PostResult] = [UNFINISHED] * len(ids)
    taken = itertools.count()  # next() on a count is atomic in CPython: each index goes to exactly one lane
    stop = threading.Event()

    def lane() -> None:
        try:
            for index in taken:
                if index >= len(ids) or stop.is_set():
                    return
                results[index] = _post_paced(poster, pacer, ids[index], data, on_answered)
        except BaseException:
            stop.set()
            raise

    lanes = min(len(ids), getattr(executor, "max_workers", None) or DEFAULT_FANOUT_CONCURRENCY)
    futures = [executor.submit(lane) for _ in range(lanes)]
    # Every lane ends before anything is raised: a caller recording progress must not see a post land after it.
    wait(futures)
    for future in futures:
        future.result()
    return results


def _post_paced(
    poster: Poster, pacer: QuotaPacer, connection_id: str, data: bytes, on_answered: Answered | None = None
) -> PostResult:
    # Throttled posts go round again at the pacer's (lower) rate: a 429 is the quota speaking, not the recipient.
    while not deadline.near(DEADLINE_MARGIN_MS):
        if pacer.wait_unless(lambda: deadline.near(DEADLINE_MARGIN_MS)) is None:
            break
        result = _post_guarded(poster, connection_id, data)
        if result.outcome is not Outcome.THROTTLED:
            if on_answered is not None:
                on_answered((connection_id,))  # first: whatever fails after this, the answer is recorded
            pacer.on_accepted()
            return result
        pacer.on_throttled()
    return UNFINISHED


def _post_guarded(poster: Poster, connection_id: str, data: bytes) -> PostResult:
    # A Poster should not raise; if one does anyway, that recipient fails and the others still get the frame.
    try:
        return poster.post(connection_id, data)
    except Exception as error:
        return PostResult(Outcome.FAILED, type(error).__name__)


def post_one(*, connection_id: str, data: bytes, poster: Poster, store: ConnectionStore) -> PostResult:
    """Post to a single connection (replies, direct messages); a gone one is pruned; a throttled one retried."""
    for attempt in range(SINGLE_POST_THROTTLED_ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, min(SINGLE_POST_MAX_BACKOFF_S, SINGLE_POST_BASE_BACKOFF_S * 2**attempt)))
        result = _post_guarded(poster, connection_id, data)
        if result.outcome is not Outcome.THROTTLED:
            break
    else:
        result = PostResult(Outcome.FAILED, THROTTLED.error)
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
