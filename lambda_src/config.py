"""The Lambda's configuration: environment variables only, read in one place.

- `CONNECTION_STORE` (default `s3`): which connection store, `s3` or `dynamodb` (`STORE_KINDS`).
- `CONNECTIONS_BUCKET` (required with `s3`): the S3 bucket of the connection store.
- `CONNECTIONS_TABLE` (required with `dynamodb`): the DynamoDB table of the connection store.
- `CONNECTIONS_URL` (required): the `@connections` endpoint,
  `https://{api_id}.execute-api.{region}.amazonaws.com/{stage}` on AWS, `http://127.0.0.1:PORT/STAGE` locally.
- `CONNECT_TOKEN` (optional): when set, `$connect` needs `?token=` equal to it.
- `FANOUT_CONCURRENCY` (default 64, 1 to 512): posts in flight at once during a fan-out.
- `LOG_LEVEL` (default INFO): DEBUG, INFO, WARNING or ERROR.
- `SHARD_SIZE` (default 1000, 0 turns sharding off): a fan-out to more recipients than this is split into shards
  of at most this many, each posted by its own asynchronous invocation of this function.
- `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda itself): the function that shard invocations go to.

Endpoints of S3, DynamoDB and the other services come from boto3's own variables (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_S3`, ...), so the same code runs on AWS, in the local stack and in tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_FANOUT_CONCURRENCY = 64
DEFAULT_SHARD_SIZE = 1000
MAX_SHARD_SIZE = 100_000
MAX_FANOUT_CONCURRENCY = 512
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
S3_STORE = "s3"
DYNAMODB_STORE = "dynamodb"
STORE_KINDS = (S3_STORE, DYNAMODB_STORE)
"""Values of CONNECTION_STORE; deployment/variables.tf validates `connection_store` against the same."""
STORE_VARIABLE = "CONNECTION_STORE"
STORE_NAME_VARIABLES = {S3_STORE: "CONNECTIONS_BUCKET", DYNAMODB_STORE: "CONNECTIONS_TABLE"}
"""The variable naming the store's bucket or table, by store kind."""


class ConfigError(ValueError):
    """An environment variable is missing or malformed."""


@dataclass(frozen=True)
class Config:
    """Everything the handler reads from its environment."""

    connections_bucket: str
    """The S3 store's bucket; empty when the store is DynamoDB."""
    connections_url: str
    connect_token: str | None = None
    fanout_concurrency: int = DEFAULT_FANOUT_CONCURRENCY
    log_level: str = "INFO"
    shard_size: int = DEFAULT_SHARD_SIZE
    function_name: str | None = None
    connection_store: str = S3_STORE
    connections_table: str = ""
    """The DynamoDB store's table; empty when the store is S3."""

    @property
    def store_name(self) -> str:
        """The bucket or table of the chosen store."""
        return self.connections_table if self.connection_store == DYNAMODB_STORE else self.connections_bucket

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the configuration; raises `ConfigError` naming the variable that is wrong."""
        env = os.environ if env is None else env
        store = env.get(STORE_VARIABLE, "").strip().lower() or S3_STORE
        if store not in STORE_KINDS:
            raise ConfigError(f"{STORE_VARIABLE} must be one of {', '.join(STORE_KINDS)}, not {store!r}")
        names = {kind: env.get(variable, "").strip() for kind, variable in STORE_NAME_VARIABLES.items()}
        if not names[store]:
            raise ConfigError(f"{STORE_NAME_VARIABLES[store]} is not set ({STORE_VARIABLE} is {store})")
        url = env.get("CONNECTIONS_URL", "").strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigError("CONNECTIONS_URL must be the http(s) URL of the @connections endpoint")
        concurrency = _int_var(env, "FANOUT_CONCURRENCY", DEFAULT_FANOUT_CONCURRENCY, 1, MAX_FANOUT_CONCURRENCY)
        shard_size = _int_var(env, "SHARD_SIZE", DEFAULT_SHARD_SIZE, 0, MAX_SHARD_SIZE)
        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            connections_bucket=names[S3_STORE] if store == S3_STORE else "",
            connections_url=url,
            connect_token=env.get("CONNECT_TOKEN") or None,
            fanout_concurrency=concurrency,
            log_level=level,
            shard_size=shard_size,
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
            connection_store=store,
            connections_table=names[DYNAMODB_STORE] if store == DYNAMODB_STORE else "",
        )


def _int_var(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value
