"""The collaborators a request needs (store, poster, thread pool, clock), built once per execution environment.

Routes receive a `Services`; only `from_config` knows about boto3, so tests and the local stack can hand in
the same objects wired to other endpoints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any

from .clock import now_ms
from .config import CONNECT_TOKEN_PLACEHOLDER, Config, ConfigError
from .fanout import Poster
from .lambda_invoker import Invoker, LambdaInvoker
from .logs import get_logger
from .management_api import SignedPoster
from .pool import carrying_context, fanout_pool
from .store import ConnectionStore
from .stores import open_store
from .tokens import TokenVerifier


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


def from_config(config: Config) -> Services:
    """Real AWS clients: the configured store (boto3, standard retries), the lean signed poster for `@connections`."""
    import boto3
    import botocore.session

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
    if config.auth_mode == "token" and config.connect_token_parameter:
        token = read_connect_token(session.client("ssm"), config.connect_token_parameter)
        config = replace(config, connect_token=token)
    return Services(
        config=config,
        store=open_store(config.connection_store, config.store_name, session),
        poster=SignedPoster(config.connections_url, credentials, session.region_name),
        executor=fanout_pool(config.fanout_concurrency),
        # Continuations need it even with sharding off (`deliver` checks `shard_size` itself).
        invoker=LambdaInvoker(config.function_name) if config.function_name else None,
        token_verifier=TokenVerifier(config.jwt) if config.jwt is not None else None,
    )


def read_connect_token(ssm: Any, name: str) -> str:
    """The shared connect token from SSM Parameter Store (decrypted); read at cold start, kept while warm."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise ConfigError(f"cannot read the connect token parameter {name!r}: {code}") from None
    except BotoCoreError as error:
        raise ConfigError(f"cannot read the connect token parameter {name!r}: {type(error).__name__}") from None
    if not isinstance(value, str) or not value or value == CONNECT_TOKEN_PLACEHOLDER:
        raise ConfigError(f"the connect token parameter {name!r} still holds no token: set it (aws ssm put-parameter)")
    return value
