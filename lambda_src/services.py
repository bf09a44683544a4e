"""The collaborators a request needs (store, poster, thread pool, clock), built once per execution environment.

Routes receive a `Services`; only `from_config` knows about boto3, so tests and the local stack can hand in
the same objects wired to other endpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from .clock import now_ms
from .config import Config, ConfigError
from .fanout import Poster
from .lambda_invoker import Invoker, LambdaInvoker
from .logs import get_logger
from .management_api import SignedPoster
from .pool import carrying_context, fanout_pool
from .store import RECORD_READ_CONCURRENCY, ConnectionStore, S3ConnectionStore


@dataclass
class Services:
    config: Config
    store: ConnectionStore
    poster: Poster
    executor: Executor
    """The fan-out pool; wrapped so that its tasks log with the invocation's requestId and connectionId."""
    invoker: Invoker | None = None
    """Starts shard invocations; None where the function cannot invoke itself (sharding off)."""
    logger: logging.Logger = field(default_factory=get_logger)
    clock_ms: Callable[[], int] = now_ms

    def __post_init__(self) -> None:
        self.executor = carrying_context(self.executor)


def from_config(config: Config) -> Services:
    """Real AWS clients: S3 (boto3, standard retries) for the store, the lean signed poster for `@connections`."""
    import boto3
    import botocore.session
    from botocore.config import Config as BotoConfig

    core = botocore.session.get_session()
    # The store never reads LastModified, and parsing it for every listed key was most of a listing's CPU
    # (figures in docs/benchmarks.md).
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    session = boto3.session.Session(botocore_session=core)
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError("no AWS credentials found")
    if not session.region_name:
        raise ConfigError("no AWS region set (AWS_REGION)")
    s3 = session.client(
        "s3",
        config=BotoConfig(retries={"mode": "standard"}, max_pool_connections=RECORD_READ_CONCURRENCY),
    )
    return Services(
        config=config,
        store=S3ConnectionStore(s3, config.connections_bucket),
        poster=SignedPoster(config.connections_url, credentials, session.region_name),
        executor=fanout_pool(config.fanout_concurrency),
        invoker=LambdaInvoker(config.function_name) if config.function_name and config.shard_size else None,
    )
