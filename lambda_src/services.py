"""The collaborators a request needs (store, poster, thread pool, clock): the container every handler receives.

Built once per execution environment by `wiring.from_config`; tests and the local stack can hand in the same
objects wired to other endpoints. Only types are named here, no implementation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from lambda_src.auth.tokens import TokenVerifier
from lambda_src.aws.lambda_invoker import Invoker
from lambda_src.aws.posting import Poster
from lambda_src.config import Config
from lambda_src.observability.clock import now_ms
from lambda_src.observability.context import carrying_context
from lambda_src.observability.logs import get_logger
from lambda_src.store.contract import ConnectionStore


@dataclass
class Services:
    config: Config
    store: ConnectionStore
    poster: Poster
    executor: Executor
    """The fan-out pool; wrapped so that its tasks log with the invocation's requestId and connectionId."""
    invoker: Invoker | None = None
    """Starts shard and continuation invocations; None where the function cannot invoke itself (no function name)."""
    logger: logging.Logger = field(default_factory=get_logger)
    clock_ms: Callable[[], int] = now_ms
    token_verifier: TokenVerifier | None = None
    """Verifies `$connect` tokens in `jwt` mode (it caches the issuer's keys while warm); None otherwise."""

    def __post_init__(self) -> None:
        self.executor = carrying_context(self.executor)
