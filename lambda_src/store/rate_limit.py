"""The per-connection message rate limit: a token bucket kept as one timestamp per connection (GCRA).

The generic cell rate algorithm is a token bucket without a token count: a connection's state is its theoretical
arrival time (TAT), the moment its bucket would be full again. A message arriving at `now` is admitted when
`max(TAT, now) + interval - now <= burst * interval`, and then moves the TAT to `max(TAT, now) + interval`; a refused
message changes nothing. From a full bucket exactly `burst` messages pass at once, then one per `interval`.

Pure arithmetic on integers (microseconds): the stores keep the TAT and make read-decide-write atomic with a
conditional write (`ConnectionStore.admit_message`); every store decides with `decide` below.

The same bucket meters the fan-out budget (`ConnectionStore.admit_posts`), where one message costs the posts it
causes: `cost` tokens. A cost past the whole burst (a broadcast to more recipients than the budget holds) passes
only from a full bucket, and leaves it that many tokens in debt: the sender then waits `cost / rate` seconds. So the
posts a sender causes in any `t` seconds are at most `max(burst, one fan-out) + rate * t`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

US_PER_S = 1_000_000
CONTENDED_ATTEMPTS = 16
"""Conditional writes a store tries for one message before it refuses it: each lost race means another message of
the same connection was admitted meanwhile, so a sender that loses this many times is sending faster than any
limit the function allows (and the refusal is the safe side)."""


@dataclass(frozen=True)
class RateLimit:
    """`rate_per_s` messages a second on average, `burst` of them at once from an idle connection."""

    rate_per_s: float
    burst: int

    @property
    def interval_us(self) -> int:
        """The time one message's token takes to come back."""
        return max(1, round(US_PER_S / self.rate_per_s))


@dataclass(frozen=True)
class Admission:
    """The answer for one message: admitted, or refused until `retry_after_ms` from now."""

    allowed: bool
    retry_after_ms: int = 0


ADMITTED = Admission(True)


def decide(tat_us: int | None, now_us: int, limit: RateLimit, cost: int = 1) -> tuple[Admission, int | None]:
    """The admission of a message of `cost` tokens arriving at `now_us` to a connection whose TAT is `tat_us` (None:
    never seen), and the TAT to store if it is admitted (None when refused: the state stays as it was)."""
    interval = limit.interval_us
    start = now_us if tat_us is None else max(tat_us, now_us)
    new_tat = start + cost * interval
    if new_tat - now_us <= limit.burst * interval or start == now_us:
        # `start == now_us`: a full bucket admits any one cost, past the burst too (see the module's docstring).
        return ADMITTED, new_tat
    # Admitted again once now >= TAT - (burst - cost) * interval (a cost past the burst: once the bucket is full);
    # rounded up to whole milliseconds.
    wait_us = start - max(0, limit.burst - cost) * interval - now_us
    return Admission(False, -(-wait_us // 1000)), None


class Spender(StrEnum):
    """Whose fan-out budget a message spends: its connection's, and with an identity its user's too."""

    CONNECTION = "connection"
    USER = "user"


def refused_after_contention(limit: RateLimit) -> Admission:
    """The answer when `CONTENDED_ATTEMPTS` conditional writes all lost to the connection's other messages."""
    return Admission(False, -(-limit.interval_us // 1000))
