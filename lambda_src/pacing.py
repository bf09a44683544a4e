"""Pacing a fan-out to the account's `@connections` quota: additive increase, multiplicative decrease, with jitter.

API Gateway throttles `@connections` per account and Region with a token bucket (10,000 requests per second,
burst 5,000 by default, shared with every API of the account: "Amazon API Gateway quotas", developer guide) and
answers the excess 429 LimitExceededException. A fan-out cannot know its share of that quota (other shards and
APIs draw on it), so it learns it: it posts unpaced until the first 429, then paces at half the rate the quota let
through, and adds back a fraction of that rate every second until the next 429 halves it again. One pacer is
shared by the threads of one fan-out; shard invocations each learn on their own.

The increase is fast enough (the rate before the decrease is back within `RECOVERY_S`) that the quota's burst
bucket, refilling while the pacer is below the quota, is never full for long: the quota stays used.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

DECREASE_FACTOR = 0.5
"""On a 429 the rate is halved (multiplicative decrease)."""
RECOVERY_S = 1.0
"""Seconds the additive increase takes to climb from the halved rate back to the rate before the decrease."""
MIN_RATE_PER_S = 1.0
"""The pacer never goes slower than this: a fan-out always progresses."""
CUT_INTERVAL_S = 0.25
"""At most one decrease in this long: the quota's bucket needs time to refill after a cut, and the 429s met
meanwhile (often caused by other shards) say nothing new."""
MAX_NAP_S = 0.05
"""A thread waiting for its slot re-reads the rate this often (it may have risen or been cut meanwhile)."""
JITTER = 0.2
"""Each gap between posts is 1/rate times a random factor in [1 - JITTER, 1 + JITTER]: threads do not march in step."""


class AimdPacer:
    """Spaces the posts of one fan-out: `wait()` before each post, then `on_accepted()` or `on_throttled()`.

    Thread-safe. Until the first 429 `wait()` returns at once. `wait()` returns the post's send time, handed
    back to `on_throttled`: a 429 for a post sent before the last decrease is not news (it was in flight when
    the rate was cut, as TCP cuts its window once per round trip), so it does not halve the rate again.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._turn = threading.Lock()
        self._started = clock()
        self._accepted = 0
        """Posts not throttled since the last decrease (or the start): what the quota let through."""
        self._rate: float | None = None
        self._increase_per_s = 0.0
        self._next_at = self._started
        self._decreased_at = float("-inf")
        self._increased_at = self._started
        self.throttled = 0
        """429s seen."""
        self.decreases = 0

    @property
    def rate_per_s(self) -> float | None:
        """The current pace; None while unpaced (no 429 seen yet)."""
        return self._rate

    def wait(self) -> float:
        """Block until this thread's post may go out; returns the time it goes out (for `on_throttled`)."""
        sent_at = self.wait_unless(lambda: False)
        assert sent_at is not None  # never given up
        return sent_at

    def wait_unless(self, give_up: Callable[[], bool]) -> float | None:
        """Block until this thread's post may go out; returns the time it goes out (for `on_throttled`), or None
        once `give_up()` is true (the invocation's deadline nears: the post is left for a continuation).

        One thread at a time waits for the next slot (the others queue on `_turn`, asleep), re-reading the rate
        at least every `MAX_NAP_S`: a slot is never booked ahead at a rate that has changed since. At a low rate
        the queue can be longer than the time left, so `give_up` is asked on every nap, and again once the turn
        is had (a thread may have queued for it past the deadline).
        """
        with self._turn:
            while True:
                if give_up():
                    return None
                with self._lock:
                    now = self._clock()
                    if self._rate is None:
                        return now
                    self._grow(now)
                    if now >= self._next_at:
                        self._next_at = now + self._rng.uniform(1 - JITTER, 1 + JITTER) / self._rate
                        return now
                    delay = self._next_at - now
                self._sleep(min(delay, MAX_NAP_S))

    def on_throttled(self, sent_at: float) -> None:
        """The post sent at `sent_at` answered 429: halve the rate, unless it went out before the last cut."""
        with self._lock:
            self.throttled += 1
            now = self._clock()
            if sent_at <= self._decreased_at or now - self._decreased_at < CUT_INTERVAL_S:
                return
            # What the quota let through since the last cut is this fan-out's share of it now (other shards and
            # APIs take the rest); the pacer's own rate may be far above it.
            window_start = self._started if self.decreases == 0 else self._decreased_at
            reached = self._accepted / max(now - window_start, 1e-3)
            if self._rate is not None:
                self._grow(now)
                reached = min(reached, self._rate)
            self._rate = max(MIN_RATE_PER_S, reached * DECREASE_FACTOR)
            self._increase_per_s = max(MIN_RATE_PER_S, (reached - self._rate) / RECOVERY_S)
            self._decreased_at = now
            self._increased_at = now
            self._next_at = now + 1 / self._rate
            self._accepted = 0
            self.decreases += 1

    def on_accepted(self) -> None:
        """A post was answered other than 429."""
        with self._lock:
            self._accepted += 1

    def _grow(self, now: float) -> None:
        # Additive increase, continuous in time: the same climb whether the threads post often or rarely.
        if self._rate is not None:
            self._rate += self._increase_per_s * (now - self._increased_at)
            self._increased_at = now
