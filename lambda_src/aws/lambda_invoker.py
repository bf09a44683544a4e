"""The Lambda invoke adapter: starts an asynchronous invocation of this same function (a shard, see `sharding`, or a
continuation, see `continuation`)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class Invoker(Protocol):
    """Starts an asynchronous invocation of this function; raises if it could not be started."""

    def invoke_async(self, payload: bytes) -> None: ...


class LambdaInvoker:
    """`Invoker` through the Lambda API; the boto3 client is made on first use, keeping cold starts lean."""

    def __init__(self, function_name: str) -> None:
        self._function_name = function_name
        self._client: LambdaClient | None = None
        self._lock = threading.Lock()

    def invoke_async(self, payload: bytes) -> None:
        self._lambda().invoke(FunctionName=self._function_name, InvocationType="Event", Payload=payload)

    def _lambda(self) -> LambdaClient:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config as BotoConfig

                self._client = boto3.session.Session().client(
                    "lambda", config=BotoConfig(retries={"mode": "standard"}, max_pool_connections=16)
                )
            return self._client
