"""The local stack's settings: every knob of `util local up`, with AWS's values as defaults."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambda_src.config import MAX_FANOUT_BUDGET_PER_S, MAX_MESSAGE_BURST, MAX_MESSAGE_RATE_PER_S, AuthMode
from lambda_src.function import HANDLER
from lambda_src.handlers.message import CONNECT_ROUTE, DISCONNECT_ROUTE, ROUTE_KEYS, ROUTE_SELECTION_EXPRESSION
from lambda_src.limits import IDLE_TIMEOUT_S, MAX_DURATION_S, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES
from lambda_src.store.open import StoreKind
from util.errors import InputError
from util.local.aws.names import LOCAL_WORKSPACE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001
TOKEN_VARIABLE = "WSPUSH_LOCAL_TOKEN"
"""Where `util local up` also takes the connect token: a process's environment is its user's alone to read, its
argv anyone's (`ps`). A detached stack gets the token here, never in its command line."""
TOKEN_OPTION = "--token"
TOKEN_FILE_OPTION = "--token-file"
TOKEN_SOURCES = f"{TOKEN_FILE_OPTION} FILE, ${TOKEN_VARIABLE} or {TOKEN_OPTION} TOKEN"
"""Every way to give `util local up` the token, for its error messages."""
DEFAULT_STAGE = "live"
DEFAULT_HANDLER = HANDLER
DEFAULT_WORKERS = 4
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 512
"""As deployment/variables.tf (lambda_memory_mb)."""
ROUTES = ROUTE_KEYS
"""The routes the deployment declares: the function's route table (deployment/locals.tf lists the same)."""
INTEGRATION_TIMEOUT_S = 29.0
"""API Gateway stops waiting for an integration after this long (WebSocket quotas: 50 ms - 29 s, not raisable)."""
ASYNC_MAX_RETRY_ATTEMPTS = 2
"""Lambda retries a failed asynchronous invocation twice unless the event-invoke config says otherwise (0-2)."""
ASYNC_RETRY_DELAYS_S = (60.0, 120.0)
"""Lambda waits about one minute before the first retry and two minutes before the second."""
ASYNC_MAX_EVENT_AGE_S = 6 * 60 * 60.0
"""Lambda keeps an asynchronous event at most this long (event-invoke config: 60 - 21600 s)."""
ASYNC_MIN_EVENT_AGE_S = 60.0
DEFAULT_ASYNC_RETRY_ATTEMPTS = 2
"""The deployment's event-invoke config (variables.tf `async_max_retry_attempts`; a test holds them equal)."""
DEFAULT_ASYNC_MAX_EVENT_AGE_S = 600
"""The deployment's event-invoke config (deployment/variables.tf `async_max_event_age_s`; a test holds them equal)."""
MAX_WORKERS = 64
MAX_TIMEOUT_S = 900.0
"""Lambda's own maximum."""
STAGE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""As lambda_src/config.py's AUTH_MODE and deployment/variables.tf's auth_mode."""
MAX_AUTHORIZER_TTL_S = 3600.0


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
    fault_statuses: tuple[int, ...] = (500, 429)
    """What a `@connections` fault answers, chosen at random among these: 500 InternalServerErrorException, 429
    LimitExceededException."""
    store_fault_rate: float | None = None
    """Share (0-1) of the function's S3/DynamoDB calls answered as AWS throttles (`store_faults`); None: no proxy."""
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
    """API Gateway's limit on one WebSocket message (`lambda_src.limits`)."""
    max_frame_bytes: int = MAX_FRAME_BYTES
    """API Gateway's limit on one WebSocket frame (`lambda_src.limits`)."""
    pings_reset_idle: bool = False
    """False (API Gateway): only data messages, either way, keep a connection from its idle timeout."""
    integration_timeout_s: float = INTEGRATION_TIMEOUT_S
    async_max_retry_attempts: int = DEFAULT_ASYNC_RETRY_ATTEMPTS
    """The event-invoke config the stack puts at start, as Terraform does (Lambda's own defaults: 2 and 6 h)."""
    async_max_event_age_s: float = DEFAULT_ASYNC_MAX_EVENT_AGE_S
    async_retry_delays_s: tuple[float, ...] = ASYNC_RETRY_DELAYS_S
    """Waits before retry 1, 2: Lambda's are fixed; shorter ones let tests see retries (the last one repeats)."""
    connections_rate: float | None = None
    """`@connections` requests per second (burst half of it) before 429 LimitExceededException; None: no limit."""
    auth: str | None = None
    """none, token or jwt; None: token when a token is given, else none."""
    authorizer_ttl_s: float = 0.0
    """How long the `$connect` authorizer's answers are cached per token (jwt); 0 caches nothing."""

    @property
    def auth_mode(self) -> str:
        if self.auth is not None:
            return self.auth
        return AuthMode.TOKEN if self.token else AuthMode.NONE

    store: str = StoreKind.S3
    """The connection store: `s3` (a bucket) or `dynamodb` (a table), created in the embedded moto."""
    message_rate_per_s: float | None = None
    """The function's MESSAGE_RATE_PER_S (0: no limit); None leaves the function's default, as Terraform's."""
    message_burst: int | None = None
    """The function's MESSAGE_BURST; None leaves the function's default."""
    fanout_budget_per_s: float | None = None
    """The function's FANOUT_BUDGET_PER_S (0: no budget); None leaves the function's default, as Terraform's."""

    def message_rate_variables(self) -> dict[str, str]:
        """The function's rate-limit variables these settings set (none by default)."""
        variables = {}
        if self.message_rate_per_s is not None:
            variables["MESSAGE_RATE_PER_S"] = f"{self.message_rate_per_s:g}"
        if self.message_burst is not None:
            variables["MESSAGE_BURST"] = str(self.message_burst)
        if self.fanout_budget_per_s is not None:
            variables["FANOUT_BUDGET_PER_S"] = f"{self.fanout_budget_per_s:g}"
        return variables

    def validate(self) -> StackSettings:
        if not 0 <= self.port <= 65535:
            raise InputError(f"--port must be between 0 and 65535, not {self.port}")
        if not STAGE_PATTERN.fullmatch(self.stage):
            raise InputError(f"--stage {self.stage!r} is not a valid stage name: use letters, digits, '-' and '_'")
        if self.latency_ms < 0:
            raise InputError("--latency-ms must not be negative")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise InputError(f"--fault-rate must be between 0 and 1, not {self.fault_rate}")
        if not self.fault_statuses or set(self.fault_statuses) - {500, 429}:
            raise InputError("--fault-statuses must be 500, 429 or both")
        if self.store_fault_rate is not None and not 0.0 <= self.store_fault_rate <= 1.0:
            raise InputError(f"--store-fault-rate must be between 0 and 1, not {self.store_fault_rate}")
        if self.idle_timeout_s <= 0 or self.max_duration_s <= 0:
            raise InputError("--idle-timeout and --max-duration must be positive (seconds)")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise InputError(f"--workers must be between 1 and {MAX_WORKERS}")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise InputError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds")
        if CONNECT_ROUTE not in self.routes or DISCONNECT_ROUTE not in self.routes:
            raise InputError("the routes must include $connect and $disconnect")
        if not 0 < self.integration_timeout_s <= INTEGRATION_TIMEOUT_S:
            raise InputError(f"the integration timeout must be more than 0 and at most {INTEGRATION_TIMEOUT_S:g} s")
        if not 0 <= self.async_max_retry_attempts <= ASYNC_MAX_RETRY_ATTEMPTS:
            raise InputError(f"--async-retries must be between 0 and {ASYNC_MAX_RETRY_ATTEMPTS}")
        if not ASYNC_MIN_EVENT_AGE_S <= self.async_max_event_age_s <= ASYNC_MAX_EVENT_AGE_S:
            raise InputError(
                f"--async-max-event-age must be between {ASYNC_MIN_EVENT_AGE_S:g} and {ASYNC_MAX_EVENT_AGE_S:g} seconds"
            )
        if not self.async_retry_delays_s or any(delay < 0 for delay in self.async_retry_delays_s):
            raise InputError("--async-retry-delays must be one or more seconds, none negative")
        if self.connections_rate is not None and not self.connections_rate > 0:
            raise InputError("--connections-rate must be more than 0 requests per second")
        if self.message_rate_per_s is not None and not 0 <= self.message_rate_per_s <= MAX_MESSAGE_RATE_PER_S:
            raise InputError(f"--message-rate must be from 0 (no limit) to {MAX_MESSAGE_RATE_PER_S:g} a second")
        if self.message_burst is not None and not 1 <= self.message_burst <= MAX_MESSAGE_BURST:
            raise InputError(f"--message-burst must be from 1 to {MAX_MESSAGE_BURST}")
        if self.fanout_budget_per_s is not None and not 0 <= self.fanout_budget_per_s <= MAX_FANOUT_BUDGET_PER_S:
            raise InputError(
                f"--fanout-budget must be from 0 (no budget) to {MAX_FANOUT_BUDGET_PER_S:g} posts a second"
            )
        if self.store not in tuple(StoreKind):
            raise InputError(f"--store must be one of {', '.join(StoreKind)}, not {self.store!r}")
        if self.token is not None and not self.token:
            raise InputError(f"the token ({TOKEN_SOURCES}) must not be empty")
        if self.auth is not None and self.auth not in tuple(AuthMode):
            raise InputError(f"--auth must be one of {', '.join(AuthMode)}, not {self.auth!r}")
        if self.auth_mode == AuthMode.TOKEN and not self.token:
            raise InputError(f"--auth token needs a token ({TOKEN_SOURCES}): the shared secret clients pass as ?token=")
        if self.auth_mode != AuthMode.TOKEN and self.token:
            raise InputError(f"a token ({TOKEN_SOURCES}) is for --auth token, not --auth {self.auth_mode}")
        if not 0 <= self.authorizer_ttl_s <= MAX_AUTHORIZER_TTL_S:
            raise InputError(f"--authorizer-ttl must be from 0 to {MAX_AUTHORIZER_TTL_S:g} seconds")
        return self

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"
