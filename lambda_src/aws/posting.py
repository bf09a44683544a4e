"""Posting to one connection: the `Poster` contract, what a post can come to, and the time it may take.

`aws.management_api` implements it against the `@connections` API; `delivery.fanout` drives it for many
connections at once; tests hand in posters of their own. A poster never raises: every failure comes back as a
`PostResult`, so one bad connection cannot stop a fan-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

DEADLINE_MARGIN_MS = 2000
"""A fan-out stops starting posts when the invocation has this little time left: enough to prune, log and hand
the rest to a continuation before Lambda ends the invocation."""
HANDOFF_RESERVE_MS = 1000
"""What the hand-off to a continuation (and the summary line) needs once the last post has ended: a post never
waits for an answer (or a retry) past the invocation's remaining time less this."""


class Outcome(Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    FAILED = "failed"
    THROTTLED = "throttled"
    """429 LimitExceededException: a poster returns it at once; the fan-out paces and posts again."""
    UNFINISHED = "unfinished"
    """Not delivered because the invocation's deadline came first: not posted at all, or a retry the poster did not
    start for lack of time. Either way a continuation posts it again."""


@dataclass(frozen=True)
class PostResult:
    outcome: Outcome
    error: str | None = None


DELIVERED = PostResult(Outcome.DELIVERED)
GONE = PostResult(Outcome.GONE)
THROTTLED = PostResult(Outcome.THROTTLED, "LimitExceededException")
UNFINISHED = PostResult(Outcome.UNFINISHED)


class Poster(Protocol):
    """Sends one frame to one connection; never raises: failures come back as `PostResult`."""

    def post(self, connection_id: str, data: bytes) -> PostResult: ...
