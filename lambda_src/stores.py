"""The connection store implementations by kind: the one place that picks S3 or DynamoDB.

`services.from_config` calls `open_store` with the function's configuration; tests and benchmarks call it with
a stack's outputs, so that everything outside the implementations reads the store through `ConnectionStore`.
"""

from __future__ import annotations

from typing import Any

from .config import DYNAMODB_STORE, S3_STORE, STORE_KINDS
from .store import RECORD_READ_CONCURRENCY, ConnectionStore, StoreError


def client_config(pool_connections: int = RECORD_READ_CONCURRENCY) -> Any:
    """botocore settings of a store's client: standard retries (throttling and 5xx), a pool for concurrent reads."""
    from botocore.config import Config as BotoConfig

    return BotoConfig(retries={"mode": "standard"}, max_pool_connections=pool_connections)


def open_store(kind: str, name: str, session: Any, config: Any | None = None) -> ConnectionStore:
    """The `kind` store (`s3` or `dynamodb`) on bucket or table `name`, with clients of this boto3 session."""
    if kind == S3_STORE:
        from .s3_store import S3ConnectionStore

        return S3ConnectionStore.from_session(session, name, config or client_config())
    if kind == DYNAMODB_STORE:
        from .dynamodb_store import DynamoDBConnectionStore

        return DynamoDBConnectionStore.from_session(session, name, config or client_config())
    raise StoreError(f"unknown connection store {kind!r}: use one of {', '.join(STORE_KINDS)}")
