"""The connection store implementations by kind: the one place that picks S3 or DynamoDB.

`wiring.from_config` calls `open_store` with the function's configuration; tests and benchmarks call it with
a stack's outputs, so that everything outside the implementations reads the store through `ConnectionStore`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from lambda_src.errors import StoreError
from lambda_src.store.contract import RECORD_READ_CONCURRENCY, ConnectionStore


class StoreKind(StrEnum):
    """Values of `CONNECTION_STORE`; deployment/variables.tf validates `connection_store` against the same."""

    S3 = "s3"
    DYNAMODB = "dynamodb"


def client_config(pool_connections: int = RECORD_READ_CONCURRENCY) -> Any:
    """botocore settings of a store's client: standard retries (throttling and 5xx), a pool for concurrent reads."""
    from botocore.config import Config as BotoConfig

    return BotoConfig(retries={"mode": "standard"}, max_pool_connections=pool_connections)


def open_store(kind: str, name: str, session: Any, config: Any | None = None) -> ConnectionStore:
    """The `kind` store (`s3` or `dynamodb`) on bucket or table `name`, with clients of this boto3 session."""
    if kind == StoreKind.S3:
        from lambda_src.store.s3 import S3ConnectionStore

        return S3ConnectionStore.from_session(session, name, config or client_config())
    if kind == StoreKind.DYNAMODB:
        from lambda_src.store.dynamodb import DynamoDBConnectionStore

        return DynamoDBConnectionStore.from_session(session, name, config or client_config())
    raise StoreError(f"unknown connection store {kind!r}: use one of {', '.join(StoreKind)}")
