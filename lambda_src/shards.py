"""Fan-out past one invocation: a large audience is split into shards, each posted by its own invocation.

One process posts at most a few thousand frames a second (CPU per post); Lambda runs invocations in parallel.
So the invocation that receives a large broadcast keeps the first shard and invokes this same function
asynchronously (`InvocationType=Event`) once per other shard, with a shard event carrying the frame and the
shard's connection ids. Shards are packed so that every shard event fits Lambda's asynchronous payload limit,
even for a frame near 128 KB. A shard whose invocation cannot be started is posted here instead: nothing is lost.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .events import Shard
from .fanout import FanoutSummary, fan_out

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from .services import Services

MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024
"""Lambda's limit for an asynchronous invocation's event."""
PAYLOAD_HEADROOM_BYTES = 2048
"""Room for the event's fixed fields (source, index, count, room, origin)."""


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


def plan(connection_ids: Sequence[str], data: bytes, shard_size: int) -> list[list[str]]:
    """Split ids into shards of at most `shard_size`, each small enough to travel in one async event."""
    budget = MAX_ASYNC_PAYLOAD_BYTES - PAYLOAD_HEADROOM_BYTES - 4 * ((len(data) + 2) // 3)
    shards: list[list[str]] = []
    current: list[str] = []
    used = 0
    for connection_id in connection_ids:
        cost = len(json.dumps(connection_id)) + 1
        if current and (len(current) >= shard_size or used + cost > budget):
            shards.append(current)
            current, used = [], 0
        current.append(connection_id)
        used += cost
    if current:
        shards.append(current)
    return shards


def deliver(
    *, connection_ids: Iterable[str], data: bytes, room: str | None, services: Services, origin: str | None
) -> FanoutSummary:
    """Post `data` to every recipient, here or spread over shard invocations; returns this invocation's part."""
    ids = list(dict.fromkeys(connection_ids))
    invoker = services.invoker
    shard_size = services.config.shard_size
    if invoker is None or shard_size == 0 or len(ids) <= shard_size:
        return _fan_out(ids, data, room, services)
    groups = plan(ids, data, shard_size)
    shards = [Shard(i, len(groups), data, tuple(group), room, origin) for i, group in enumerate(groups)]
    started = list(services.executor.map(lambda shard: _start(invoker, shard, services), shards[1:]))
    kept = [cid for shard, ok in zip(shards[1:], started, strict=True) if not ok for cid in shard.connection_ids]
    services.logger.info(
        "sharded",
        extra={"recipients": len(ids), "shards": len(shards), "invoked": sum(started), "keptLocally": len(kept)},
    )
    return _fan_out([*shards[0].connection_ids, *kept], data, room, services, shard=(0, len(shards)))


def on_shard(shard: Shard, services: Services) -> dict[str, Any]:
    """A shard invocation: post its slice, prune gone ids, log its own summary."""
    summary = _fan_out(list(shard.connection_ids), shard.data, shard.room, services, shard=(shard.index, shard.count))
    return {"statusCode": 200, **summary.as_log_fields()}


def _start(invoker: Invoker, shard: Shard, services: Services) -> bool:
    try:
        invoker.invoke_async(shard.to_event())
    except Exception as error:
        services.logger.warning(
            "shard invocation failed; posting it here", extra={"shard": shard.index, "error": type(error).__name__}
        )
        return False
    return True


def _fan_out(
    ids: list[str], data: bytes, room: str | None, services: Services, shard: tuple[int, int] | None = None
) -> FanoutSummary:
    return fan_out(
        connection_ids=ids,
        data=data,
        poster=services.poster,
        executor=services.executor,
        store=services.store,
        logger=services.logger,
        room=room,
        log_fields={} if shard is None else {"shard": shard[0], "shards": shard[1]},
    )
