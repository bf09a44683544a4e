"""Fan-out past one invocation: a large audience is split into shards, each posted by its own invocation.

One process posts at most a few thousand frames a second (CPU per post); Lambda runs invocations in parallel.
So the invocation that receives a large broadcast invokes this same function asynchronously
(`InvocationType=Event`) once per full shard as the store lists it, with a shard event carrying the frame and
the shard's connection ids, and posts the last shard itself. Shards are packed so that every shard event fits
Lambda's asynchronous payload limit, even for a frame near 128 KB. A shard whose invocation cannot be started
is posted here instead: nothing is lost.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol

from .events import Shard
from .fanout import FanoutSummary, fan_out
from .logs import current_request_id

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


def plan(connection_ids: Iterable[str], data: bytes, shard_size: int) -> Iterator[tuple[list[str], bool]]:
    """Group unique ids into shards of at most `shard_size`, each small enough to travel in one async event.

    Lazy, so the caller can start a shard while the store is still listing the next: yields `(ids, last)`,
    and a group is yielded as soon as it is full (then `last` is False, since more ids are known to follow).
    """
    budget = MAX_ASYNC_PAYLOAD_BYTES - PAYLOAD_HEADROOM_BYTES - 4 * ((len(data) + 2) // 3)
    seen: set[str] = set()
    current: list[str] = []
    used = 0
    for connection_id in connection_ids:
        if connection_id in seen:
            continue
        seen.add(connection_id)
        cost = len(json.dumps(connection_id)) + 1
        if current and (len(current) >= shard_size or used + cost > budget):
            yield current, False
            current, used = [], 0
        current.append(connection_id)
        used += cost
    yield current, True


def deliver(*, connection_ids: Iterable[str], data: bytes, room: str | None, services: Services) -> FanoutSummary:
    """Post `data` to every recipient, here or spread over shard invocations; returns this invocation's part.

    Each full shard is handed to its own invocation while the listing goes on; this invocation keeps the last,
    so the first shards are posting long before a 10,000-key listing ends.
    """
    invoker = services.invoker
    shard_size = services.config.shard_size
    origin = current_request_id()
    if invoker is None or shard_size == 0:
        return _fan_out(list(dict.fromkeys(connection_ids)), data, room, services)
    starts: list[tuple[Shard, Future[bool]]] = []
    kept: list[str] = []
    for index, (group, last) in enumerate(plan(connection_ids, data, shard_size)):
        if last:
            kept = group
            break
        shard = Shard(index, data, tuple(group), room, origin)
        starts.append((shard, services.executor.submit(_start, invoker, shard, services)))
    if not starts:
        return _fan_out(kept, data, room, services)
    unstarted = [shard for shard, started in starts if not started.result()]
    services.logger.info(
        "sharded",
        extra={
            "recipients": sum(len(shard.connection_ids) for shard, _ in starts) + len(kept),
            "shards": len(starts) + 1,
            "invoked": len(starts) - len(unstarted),
            "keptLocally": len(kept) + sum(len(shard.connection_ids) for shard in unstarted),
        },
    )
    kept.extend(cid for shard in unstarted for cid in shard.connection_ids)
    return _fan_out(kept, data, room, services, shard=(len(starts), origin))


def on_shard(shard: Shard, services: Services) -> dict[str, Any]:
    """A shard invocation: post its slice, prune gone ids, log its own summary."""
    summary = _fan_out(list(shard.connection_ids), shard.data, shard.room, services, shard=(shard.index, shard.origin))
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
    ids: list[str], data: bytes, room: str | None, services: Services, shard: tuple[int, str | None] | None = None
) -> FanoutSummary:
    return fan_out(
        connection_ids=ids,
        data=data,
        poster=services.poster,
        executor=services.executor,
        store=services.store,
        logger=services.logger,
        room=room,
        # A shard's summary names the invocation that split the fan-out (whose "sharded" line counts the shards).
        log_fields={} if shard is None else {"shard": shard[0], "origin": shard[1]},
    )
