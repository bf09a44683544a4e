"""The local stack's settings: every knob of `util local up`, with AWS's values as defaults."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambda_src.config import S3_STORE, STORE_KINDS
from util.errors import InputError

from .names import LOCAL_WORKSPACE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001
DEFAULT_STAGE = "live"
DEFAULT_HANDLER = "lambda_src.app.handler"
DEFAULT_WORKERS = 4
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 512
"""As deployment/variables.tf (lambda_memory_mb)."""
IDLE_TIMEOUT_S = 10 * 60.0
"""API Gateway closes a WebSocket connection idle this long."""
MAX_DURATION_S = 2 * 60 * 60.0
"""API Gateway closes any WebSocket connection this old."""
MAX_MESSAGE_BYTES = 128 * 1024
"""API Gateway's limit on one WebSocket message (and on a `@connections` post)."""
MAX_FRAME_BYTES = 32 * 1024
"""API Gateway's limit on one WebSocket frame: larger messages must be fragmented."""
ROUTE_SELECTION_EXPRESSION = "$request.body.action"
ROUTES = ("$connect", "$disconnect", "$default", "broadcast", "send", "whoami", "join", "leave")
"""The routes the deployment declares (deployment/ creates the same), all integrated with the one function."""
MAX_WORKERS = 64
MAX_TIMEOUT_S = 900.0
"""Lambda's own maximum."""
STAGE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class StackSettings:
    """Everything that shapes one local stack; `validate` turns nonsense into one `InputError` line."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    """0 picks a free port (tests)."""
    stage: str = DEFAULT_STAGE
    token: str | None = None
    latency_ms: float = 0.0
    fault_rate: float = 0.0
    idle_timeout_s: float = IDLE_TIMEOUT_S
    max_duration_s: float = MAX_DURATION_S
    workers: int = DEFAULT_WORKERS
    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: int = DEFAULT_MEMORY_MB
    handler: str = DEFAULT_HANDLER
    code_dir: Path | None = None
    """Where the handler's package lives; None: the source tree's `lambda_src`."""
    routes: tuple[str, ...] = ROUTES
    route_selection_expression: str = ROUTE_SELECTION_EXPRESSION
    workspace: str = LOCAL_WORKSPACE
    log_level: str = "INFO"
    function_environment: Mapping[str, str] = field(default_factory=dict)
    """Extra variables for the function (tests); they win over the stack's own."""
    state_path: Path | None = None
    """Where to write the outputs once ready; None writes none (in-process tests)."""
    max_message_bytes: int = MAX_MESSAGE_BYTES
    max_frame_bytes: int = MAX_FRAME_BYTES
    store: str = S3_STORE
    """The connection store: `s3` (a bucket) or `dynamodb` (a table), created in the embedded moto."""

    def validate(self) -> StackSettings:
        if not 0 <= self.port <= 65535:
            raise InputError(f"--port must be between 0 and 65535, not {self.port}")
        if not STAGE_PATTERN.fullmatch(self.stage):
            raise InputError(f"--stage {self.stage!r} is not a valid stage name: use letters, digits, '-' and '_'")
        if self.latency_ms < 0:
            raise InputError("--latency-ms must not be negative")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise InputError(f"--fault-rate must be between 0 and 1, not {self.fault_rate}")
        if self.idle_timeout_s <= 0 or self.max_duration_s <= 0:
            raise InputError("--idle-timeout and --max-duration must be positive (seconds)")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise InputError(f"--workers must be between 1 and {MAX_WORKERS}")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise InputError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
        if "$connect" not in self.routes or "$disconnect" not in self.routes:
            raise InputError("the routes must include $connect and $disconnect")
        if self.store not in STORE_KINDS:
            raise InputError(f"--store must be one of {', '.join(STORE_KINDS)}, not {self.store!r}")
        if self.token is not None and not self.token:
            raise InputError("--token must not be empty")
        return self

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"
