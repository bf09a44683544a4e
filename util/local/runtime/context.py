"""The context object a Lambda handler receives, with the attributes and method of AWS's Python runtime."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class LambdaContext:
    """Mirrors `awslambdaric`'s context: `memory_limit_in_mb` and `function_version` are strings there too."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out (never negative)."""
        return max(0, self.deadline_ms - time.time_ns() // 1_000_000)
