"""The reconnect delay: exponential backoff with full jitter, one small function.

Attempt n (0 for the first retry after a drop) waits a uniformly random time in [0, min(cap, base * 2**n)].
The defaults (base 1 s, cap 20 s) give ceilings of 1, 2, 4, 8, 16, 20, 20, ... seconds; "full jitter" (AWS
Architecture Blog, "Exponential Backoff And Jitter") spreads the clients a deploy dropped together over the
whole window, so they do not come back in the same second.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

BASE_DELAY_S = 1.0
MAX_DELAY_S = 20.0
STABLE_CONNECTION_S = 10.0
"""A connection that stayed open this long was healthy: the next drop starts again from attempt 0."""


@dataclass(frozen=True)
class Backoff:
    """The reconnect schedule: `delay(attempt)` seconds before attempt `attempt` (0-based)."""

    base_s: float = BASE_DELAY_S
    cap_s: float = MAX_DELAY_S
    random: Callable[[], float] = random.random
    """A number in [0, 1): `lambda: 1.0` makes the schedule its ceilings (tests)."""

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError(f"backoff needs 0 < base_s <= cap_s, not base {self.base_s:g} s, cap {self.cap_s:g} s")

    def ceiling(self, attempt: int) -> float:
        """The longest wait before attempt `attempt`."""
        # min() on the exponent first: 2**attempt of a client retrying for days is a huge float, not an error.
        return min(self.cap_s, self.base_s * 2.0 ** min(attempt, 64))

    def delay(self, attempt: int) -> float:
        return self.random() * self.ceiling(attempt)
