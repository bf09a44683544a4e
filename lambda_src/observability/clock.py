"""Wall-clock time in the unit of every timestamp the service and API Gateway's events carry."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000
