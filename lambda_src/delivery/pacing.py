"""Pacing a fan-out to the account's `@connections` quota: pace at what the quota let through, probe above it.

API Gateway throttles `@connections` per account and Region with a token bucket (10,000 requests per second,
burst 5,000 by default, shared with every API of the account: "Amazon API Gateway quotas", developer guide) and
answers the excess 429 LimitExceededException. A fan-out cannot know its share of that quota (other shards and
APIs draw on it), so it measures it. It posts unpaced until the first 429; from then on it looks at its answers
in windows of `WINDOW_S`:
- a window with a 429 in it: the posts the quota accepted in that window are this fan-out's share of the quota
  now, so the pace becomes that rate, less `DRAIN` (the bucket refills a little and the next window's posts pass);
- a window without one: the pace rises by the next of `PROBE_GAINS`, gently at first and faster the longer no 429
  comes, so a share that others have freed (a shard that ended) is found within about a second.
One pacer is shared by the threads of one fan-out; shard invocations each measure on their own, and their
measured shares add up to what the bucket lets through.

Why not halve on a 429 and climb back additively (the first version): a shard that starts while the others have
emptied the bucket sees its very first posts throttled, measures a share of almost nothing, and at a rate cut
to the floor the additive climb took tens of seconds. Measured on the local stack (5,000 clients, 12 shards,
`--connections-rate 1000`) that pacer reached 21% of the limit; this one is measured in docs/benchmarks.md.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

WINDOW_S = 0.1
"""The pace is set again at most this often: about five round trips of a `@connections` post (20 ms), enough to
count a share of a few posts at low rates and short enough to react within a fraction of a second."""
DRAIN = 0.1
"""After a throttled window the pace is this much below the share measured, so the bucket is not kept empty."""
PROBE_GAINS = (1.05, 1.1, 1.2, 1.5, 2.0)
"""Each window without a 429 multiplies the pace by the next gain, the last one for as long as none comes."""
MIN_RATE_PER_S = 1.0
"""The pacer never goes slower than this: a fan-out always progresses."""
FIRST_WINDOW_S = 0.02
"""The share measured at the first 429 counts at least this long (one round trip), so posts answered at once
do not read as an enormous rate."""
MAX_NAP_S = 0.05
"""A thread waiting for its slot re-reads the rate this often (it may have risen or been cut meanwhile)."""
JITTER = 0.2
"""Each gap between posts is 1/rate times a random factor in [1 - JITTER, 1 + JITTER]: threads do not march in step."""


class QuotaPacer:
    """Spaces the posts of one fan-out: `wait()` before each post, then `on_accepted()` or `on_throttled()`.

    Thread-safe. Until the first 429 `wait()` returns at once. Which window an answer falls in decides, not when
    its post went out, so the answers carry no send time.
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
        self._rate: float | None = None
        self._window_at = clock()
        self._window_accepted = 0
        self._window_throttled = 0
        self._calm_windows = 0
        self._next_at = self._window_at
        self.throttled = 0
        """429s seen."""
        self.decreases = 0
        """Windows that set the pace from a measured share (the first 429 included)."""

    @property
    def rate_per_s(self) -> float | None:
        """The current pace; None while unpaced (no 429 seen yet)."""
        return self._rate

    def wait(self) -> float:
        """Block until this thread's post may go out; returns the time it goes out."""
        sent_at = self.wait_unless(lambda: False)
        assert sent_at is not None  # never given up
        return sent_at

    def wait_unless(self, give_up: Callable[[], bool]) -> float | None:
        """Block until this thread's post may go out; returns the time it goes out, or None once `give_up()` is
        true (the invocation's deadline nears: the post is left for a continuation).

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
                    self._close_window(now)
                    if self._rate is None:
                        return now
                    if now >= self._next_at:
                        # Slots nobody took (every thread was waiting for an answer) are not saved up beyond half
                        # a window: a pace is a rate, not a credit.
                        start = max(self._next_at, now - WINDOW_S / 2)
                        self._next_at = start + self._rng.uniform(1 - JITTER, 1 + JITTER) / self._rate
                        return now
                    delay = self._next_at - now
                self._sleep(min(delay, MAX_NAP_S))

    def on_throttled(self) -> None:
        """A post was answered 429."""
        with self._lock:
            self.throttled += 1
            now = self._clock()
            if self._rate is None:
                # The first 429 ends the unpaced start at once: what was let through so far is the first share.
                elapsed = max(now - self._window_at, FIRST_WINDOW_S)
                self._set_share(self._window_accepted / elapsed, now)
                self._next_at = now
                return
            self._window_throttled += 1
            self._close_window(now)

    def on_accepted(self) -> None:
        """A post was answered other than 429."""
        with self._lock:
            self._window_accepted += 1
            self._close_window(self._clock())

    def _close_window(self, now: float) -> None:
        elapsed = now - self._window_at
        if self._rate is None or elapsed < WINDOW_S:
            return
        if self._window_throttled:
            self._set_share(self._window_accepted / elapsed, now)
            return
        self._rate *= PROBE_GAINS[min(self._calm_windows, len(PROBE_GAINS) - 1)]
        self._calm_windows += 1
        self._start_window(now)

    def _set_share(self, accepted_per_s: float, now: float) -> None:
        self._rate = max(MIN_RATE_PER_S, accepted_per_s * (1 - DRAIN))
        self._calm_windows = 0
        self.decreases += 1
        self._start_window(now)

    def _start_window(self, now: float) -> None:
        self._window_at = now
        self._window_accepted = 0
        self._window_throttled = 0
