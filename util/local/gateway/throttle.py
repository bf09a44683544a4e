"""The account-level throttle on `@connections`, as API Gateway applies it: a token bucket, rate N, burst N/2.

API Gateway throttles per account and Region with a token bucket (steady rate 10,000 requests per second, burst
5,000, shared by every API and by `@connections` calls; "Amazon API Gateway quotas" and "Throttle requests to
your REST APIs for better throughput in API Gateway" in the developer guide). `util local up --connections-rate N`
scales that down to N per second so throttling can be seen and tested locally.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """`take()` is True while tokens last; tokens refill at `rate_per_s` up to `burst` (the bucket starts full)."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least one request")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._at = clock()

    @classmethod
    def for_rate(cls, rate_per_s: float, clock: Callable[[], float] = time.monotonic) -> TokenBucket:
        """API Gateway's shape: the burst is half the steady rate (10,000/s with 5,000), at least one request."""
        return cls(rate_per_s, max(1.0, rate_per_s / 2), clock)

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False
