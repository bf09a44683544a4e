"""Wiring: build the function's `Services` from its `Config`, with real AWS clients.

The one module that knows which implementation stands behind each collaborator (boto3 store clients, the lean
signed `@connections` poster, the Lambda invoker, the JWT verifier). Tests and the local stack build `Services`
by hand, or call `from_config` with a configuration that points at other endpoints.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lambda_src.auth.tokens import TokenVerifier
from lambda_src.aws import botocore_tuning
from lambda_src.aws.lambda_invoker import LambdaInvoker
from lambda_src.aws.management_api import SignedPoster
from lambda_src.config import CONNECT_TOKEN_PLACEHOLDER, AuthMode, Config
from lambda_src.delivery.pool import fanout_pool
from lambda_src.errors import ConfigError
from lambda_src.services import Services
from lambda_src.store.open import open_store


def from_config(config: Config) -> Services:
    """Real AWS clients: the configured store (boto3, standard retries), the lean signed poster for `@connections`."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    botocore_tuning.leave_timestamps_as_text(core)
    session = boto3.session.Session(botocore_session=core)
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigError("no AWS credentials found")
    if not session.region_name:
        raise ConfigError("no AWS region set (AWS_REGION)")
    if config.auth_mode == AuthMode.TOKEN and config.connect_token_parameter:
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
