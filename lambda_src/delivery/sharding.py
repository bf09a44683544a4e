"""Sharding: a large audience split into shards, each posted by its own asynchronous invocation of this function.

One process posts at most a few thousand frames a second (CPU per post); Lambda runs invocations in parallel.
`plan` packs the recipients into shards whose event fits Lambda's asynchronous payload limit, even for a frame
near the message limit; `start` hands one shard to its own invocation; `on_shard` is that invocation's side.
`post_here` posts a group from the current invocation, which is also what a fan-out without sharding does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from lambda_src.aws.lambda_invoker import Invoker
from lambda_src.delivery import claims
from lambda_src.delivery.continuation import handoff
from lambda_src.delivery.fanout import FanoutSummary, fan_out
from lambda_src.limits import MAX_ASYNC_PAYLOAD_BYTES
from lambda_src.observability import metrics
from lambda_src.observability.logs import current_request_id
from lambda_src.protocol.events import Continuation, Shard
from lambda_src.services import Services

PAYLOAD_HEADROOM_BYTES = 2048
"""Room for the event's fixed fields (source, index, count, room, origin)."""


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


def start(invoker: Invoker, shard: Shard, services: Services) -> bool:
    """Start the shard's invocation; False (logged) when it could not be started, so the caller posts it itself."""
    try:
        invoker.invoke_async(shard.to_event())
    except Exception as error:
        # The invocation may have started all the same (the answer was lost): whichever claims the shard posts it.
        if not claims.take(claims.shard_token(shard.origin, shard.index), services):
            services.logger.info(
                "shard invocation failed but started: its invocation posts it",
                extra={"shard": shard.index, "error": type(error).__name__},
            )
            return True
        services.logger.warning(
            "shard invocation failed; posting it here", extra={"shard": shard.index, "error": type(error).__name__}
        )
        return False
    return True


def on_shard(shard: Shard, services: Services) -> dict[str, Any]:
    """A shard invocation: post its slice (unless another invocation claimed it first), prune gone ids, log its
    own summary."""
    if not claims.take(claims.shard_token(shard.origin, shard.index), services):
        services.logger.info(
            "shard already claimed: not posted again", extra={"shard": shard.index, "origin": shard.origin}
        )
        return {"statusCode": 200, "claimed": False}
    summary = post_here(
        list(shard.connection_ids),
        shard.data,
        shard.room,
        services,
        shard=(shard.index, shard.origin),
        source=metrics.Source.SHARD,
    )
    return {"statusCode": 200, **summary.as_log_fields()}


def on_continuation(request: Continuation, services: Services) -> dict[str, Any]:
    """A continuation invocation: post the rest of a fan-out (and continue again if its own deadline comes)."""
    summary = post_here(
        list(request.connection_ids),
        request.data,
        request.room,
        services,
        source=metrics.Source.CONTINUATION,
        continuation=(request.hop, request.origin),
    )
    return {"statusCode": 200, **summary.as_log_fields()}


def post_here(
    ids: list[str],
    data: bytes,
    room: str | None,
    services: Services,
    *,
    shard: tuple[int, str | None] | None = None,
    source: metrics.Source = metrics.Source.BROADCAST,
    continuation: tuple[int, str | None] | None = None,
    log_fields: Mapping[str, object] | None = None,
) -> FanoutSummary:
    """Post to `ids` from this invocation; `shard` (index, origin) tags the summary of a shard's part,
    `continuation` (hop, origin) that of a continuation, `source` its metrics, `log_fields` are added to its summary
    line (a segment shard's `segment`, `segments`). What the deadline leaves unposted is handed to the next
    continuation."""
    hop, origin = continuation if continuation is not None else (0, None)
    if origin is None:
        origin = shard[1] if shard is not None else current_request_id()
    fields: dict[str, object] = {}
    if shard is not None:
        fields = {"shard": shard[0], "origin": shard[1]}
    if continuation is not None:
        fields = {"continuation": hop, "origin": origin}
    fields.update(log_fields or {})
    summary = fan_out(
        connection_ids=ids,
        data=data,
        poster=services.poster,
        executor=services.executor,
        store=services.store,
        logger=services.logger,
        room=room,
        # A shard's (or continuation's) summary names the invocation that split the fan-out (whose "sharded" line
        # counts the shards), or started the chain.
        log_fields=fields,
        continue_with=handoff(services, data, room, origin, hop + 1),
    )
    metrics.fanout(
        source,
        recipients=summary.recipients,
        delivered=summary.delivered,
        gone=summary.gone,
        failed=summary.failed,
        ms=summary.ms,
        throttled=summary.throttled,
    )
    return summary
