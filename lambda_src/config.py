"""The Lambda's configuration: environment variables only, read in one place.

- `CONNECTIONS_BUCKET` (required): the S3 bucket of the connection store.
- `CONNECTIONS_URL` (required): the `@connections` endpoint,
  `https://{api_id}.execute-api.{region}.amazonaws.com/{stage}` on AWS, `http://127.0.0.1:PORT/STAGE` locally.
- `CONNECT_TOKEN` (optional): when set, `$connect` needs `?token=` equal to it.
- `FANOUT_CONCURRENCY` (default 64, 1 to 512): posts in flight at once during a fan-out.
- `LOG_LEVEL` (default INFO): DEBUG, INFO, WARNING or ERROR.
- `MAX_ROOMS_PER_CONNECTION` (default 50, 1 to 1000): rooms one connection may be in at once; a `join` past it is
  refused with `too_many_rooms` (the record read on every message grows with each room).
- `SHARD_SIZE` (default 1000, 0 turns sharding off): a fan-out to more recipients than this is split into shards
  of at most this many, each posted by its own asynchronous invocation of this function.
- `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda itself): the function that shard invocations go to.

Endpoints of S3 and the other services come from boto3's own variables (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_S3`, ...), so the same code runs on AWS, in the local stack and in tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_FANOUT_CONCURRENCY = 64
DEFAULT_SHARD_SIZE = 1000
DEFAULT_MAX_ROOMS_PER_CONNECTION = 50
MAX_MAX_ROOMS_PER_CONNECTION = 1000
MAX_SHARD_SIZE = 100_000
MAX_FANOUT_CONCURRENCY = 512
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """An environment variable is missing or malformed."""


@dataclass(frozen=True)
class Config:
    """Everything the handler reads from its environment."""

    connections_bucket: str
    connections_url: str
    connect_token: str | None = None
    fanout_concurrency: int = DEFAULT_FANOUT_CONCURRENCY
    log_level: str = "INFO"
    shard_size: int = DEFAULT_SHARD_SIZE
    function_name: str | None = None
    max_rooms_per_connection: int = DEFAULT_MAX_ROOMS_PER_CONNECTION

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the configuration; raises `ConfigError` naming the variable that is wrong."""
        env = os.environ if env is None else env
        bucket = env.get("CONNECTIONS_BUCKET", "").strip()
        if not bucket:
            raise ConfigError("CONNECTIONS_BUCKET is not set")
        url = env.get("CONNECTIONS_URL", "").strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigError("CONNECTIONS_URL must be the http(s) URL of the @connections endpoint")
        concurrency = _int_var(env, "FANOUT_CONCURRENCY", DEFAULT_FANOUT_CONCURRENCY, 1, MAX_FANOUT_CONCURRENCY)
        shard_size = _int_var(env, "SHARD_SIZE", DEFAULT_SHARD_SIZE, 0, MAX_SHARD_SIZE)
        max_rooms = _int_var(
            env, "MAX_ROOMS_PER_CONNECTION", DEFAULT_MAX_ROOMS_PER_CONNECTION, 1, MAX_MAX_ROOMS_PER_CONNECTION
        )
        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            connections_bucket=bucket,
            connections_url=url,
            connect_token=env.get("CONNECT_TOKEN") or None,
            fanout_concurrency=concurrency,
            log_level=level,
            shard_size=shard_size,
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
            max_rooms_per_connection=max_rooms,
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
