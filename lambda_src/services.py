"""The collaborators a request needs (store, poster, thread pool, clock), built once per execution environment.

Routes receive a `Services`; only `from_config` knows about boto3, so tests and the local stack can hand in
the same objects wired to other endpoints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from .config import Config, ConfigError
from .fanout import Poster
from .logs import get_logger
from .management_api import SignedPoster
from .shards import Invoker, LambdaInvoker
from .store import ConnectionStore
from .stores import open_store


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Services:
    config: Config
    store: ConnectionStore
    poster: Poster
    executor: Executor
    invoker: Invoker | None = None
    """Starts shard invocations; None where the function cannot invoke itself (sharding off)."""
    logger: logging.Logger = field(default_factory=get_logger)
    clock_ms: Callable[[], int] = _now_ms


def from_config(config: Config) -> Services:
    """Real AWS clients: the configured store (boto3, standard retries), the lean signed poster for `@connections`."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    # The store never reads LastModified: parsing it for every listed key was two thirds of a listing's CPU
    # (3,000 keys: 327 ms with dateutil, 109 ms left as text).
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    session = boto3.session.Session(botocore_session=core)
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError("no AWS credentials found")
    if not session.region_name:
        raise ConfigError("no AWS region set (AWS_REGION)")
    return Services(
        config=config,
        store=open_store(config.connection_store, config.store_name, session),
        poster=SignedPoster(config.connections_url, credentials, session.region_name),
        executor=ThreadPoolExecutor(max_workers=config.fanout_concurrency, thread_name_prefix="fanout"),
        invoker=LambdaInvoker(config.function_name) if config.function_name and config.shard_size else None,
    )
