"""The Lambda's configuration: environment variables only, read in one place.

- `CONNECTIONS_BUCKET` (required): the S3 bucket of the connection store.
- `CONNECTIONS_URL` (required): the `@connections` endpoint,
  `https://{api_id}.execute-api.{region}.amazonaws.com/{stage}` on AWS, `http://127.0.0.1:PORT/STAGE` locally.
- `CONNECT_TOKEN` (optional): when set, `$connect` needs `?token=` equal to it.
- `FANOUT_CONCURRENCY` (default 64, 1 to 512): posts in flight at once during a fan-out.
- `LOG_LEVEL` (default INFO): DEBUG, INFO, WARNING or ERROR.

Endpoints of S3 and the other services come from boto3's own variables (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_S3`, ...), so the same code runs on AWS, in the local stack and in tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_FANOUT_CONCURRENCY = 64
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
        raw_concurrency = env.get("FANOUT_CONCURRENCY", str(DEFAULT_FANOUT_CONCURRENCY))
        try:
            concurrency = int(raw_concurrency)
        except ValueError:
            raise ConfigError(f"FANOUT_CONCURRENCY must be an integer, not {raw_concurrency!r}") from None
        if not 1 <= concurrency <= MAX_FANOUT_CONCURRENCY:
            raise ConfigError(f"FANOUT_CONCURRENCY must be between 1 and {MAX_FANOUT_CONCURRENCY}")
        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        return cls(
            connections_bucket=bucket,
            connections_url=url,
            connect_token=env.get("CONNECT_TOKEN") or None,
            fanout_concurrency=concurrency,
            log_level=level,
        )
