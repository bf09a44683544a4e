"""Sharding: a large audience split into shards, each posted by its own asynchronous invocation of this function.

One process posts at most a few thousand frames a second (CPU per post); Lambda runs invocations in parallel.
`plan` packs the recipients into shards whose event fits Lambda's asynchronous payload limit, even for a frame
near the message limit; `start` hands one shard to its own invocation; `on_shard` is that invocation's side.
`post_here` posts a group from the current invocation, which is also what a fan-out without sharding does. Each
shard is a part with a claim (`claims`): posted by one invocation at a time, and a retry posts only what it lacks.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from lambda_src.aws.lambda_invoker import Invoker
from lambda_src.delivery import claims
from lambda_src.delivery.claims import Part
from lambda_src.delivery.continuation import handoff
from lambda_src.delivery.fanout import FanoutSummary, fan_out
from lambda_src.delivery.plan import Delivery, Lineage, Sender
from lambda_src.errors import DeliveryIncomplete
from lambda_src.limits import MAX_ASYNC_PAYLOAD_BYTES
from lambda_src.observability import metrics
from lambda_src.observability.context import bound_fields, log_context
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


def start(invoker: Invoker, shard: Shard, services: Services) -> Part | None:
    """Start the shard's invocation; None when it started (or another invocation holds or has posted the shard),
    else the shard's claim, held by this invocation, which posts the shard itself (logged)."""
    try:
        invoker.invoke_async(shard.to_event())
    except Exception as error:
        # The invocation may have started all the same (the answer was lost): whichever holds the shard posts it.
        token = shard_token(shard)
        part = None if token is None else claims.hold(token, services, wait=False)
        if part is None:
            services.logger.info(
                "shard invocation failed but started: its invocation posts it",
                extra={"shard": shard.index, "error": type(error).__name__},
            )
            return None
        services.logger.warning(
            "shard invocation failed; posting it here", extra={"shard": shard.index, "error": type(error).__name__}
        )
        return part
    return None


def shard_token(shard: Shard) -> str | None:
    """The token of the shard's claim: the one its event names (older events name none: derived from the origin)."""
    return shard.part or claims.legacy_shard_token(shard.origin, shard.index)


def on_shard(shard: Shard, services: Services) -> dict[str, Any]:
    """A shard invocation: post its slice to whoever the shard's claim has not answered yet (nothing if another
    invocation posted it all), prune gone ids, log its own summary. Raises if recipients are left unposted."""
    token = shard_token(shard)
    part = None if token is None else claims.hold(token, services, wait=True)
    if part is None and token is not None:
        services.logger.info(
            "shard already posted: not posted again", extra={"shard": shard.index, "origin": shard.origin}
        )
        return {"statusCode": 200, "claimed": False}
    with part if part is not None else contextlib.nullcontext():
        summary = post_here(
            list(shard.connection_ids),
            Delivery(shard.data, shard.room, metrics.Source.SHARD),
            services,
            lineage=Lineage(shard.origin, shard=shard.index),
            part=part,
        )
    return {"statusCode": 200, **summary.as_log_fields()}


def on_continuation(request: Continuation, services: Services) -> dict[str, Any]:
    """A continuation invocation: post the rest of a fan-out (and continue again if its own deadline comes), to those
    its claim has not answered yet. Raises if recipients are left unposted."""
    part = None if request.part is None else claims.hold(request.part, services, wait=True)
    if part is None and request.part is not None:
        services.logger.info(
            "continuation already posted: not posted again", extra={"hop": request.hop, "origin": request.origin}
        )
        return {"statusCode": 200, "claimed": False}
    with part if part is not None else contextlib.nullcontext():
        summary = post_here(
            list(request.connection_ids),
            Delivery(request.data, request.room, metrics.Source.CONTINUATION),
            services,
            lineage=Lineage(request.origin, hop=request.hop),
            part=part,
        )
    return {"statusCode": 200, **summary.as_log_fields()}


def post_here(
    ids: list[str], delivery: Delivery, services: Services, *, lineage: Lineage | None = None, part: Part | None = None
) -> FanoutSummary:
    """Post `delivery` to `ids` from this invocation. `lineage` names the part of a split fan-out this is (a shard, a
    continuation: its summary line says so); what the deadline leaves unposted is handed to the next continuation.

    With `part` (an asynchronous invocation's claim), only the ids the part has not answered are posted, each answer
    is recorded in it, and recipients left neither posted nor handed on raise `DeliveryIncomplete`, so that Lambda
    retries the part for them. Without one (a `broadcast` route: nobody retries it) they are logged as lost."""
    lineage = lineage or Lineage.here()
    fields = lineage.log_fields()
    if part is not None:
        pending = part.pending(ids)
        if len(pending) < len(ids):
            fields["resumed"] = len(ids) - len(pending)
        ids = pending
    # A field the caller's context already names (a segment's origin) stays: it names the larger part.
    outer = bound_fields()
    with log_context(**{key: value for key, value in fields.items() if key not in outer}):
        summary = fan_out(
            ids,
            delivery.data,
            Sender.of(services),
            room=delivery.room,
            continue_with=handoff(services, delivery, lineage, claims.splitting_parent(part)),
            on_answered=part.answered_all if part is not None else None,
        )
    metrics.fanout(
        delivery.source,
        recipients=summary.recipients,
        delivered=summary.delivered,
        gone=summary.gone,
        failed=summary.failed,
        ms=summary.ms,
        throttled=summary.throttled,
    )
    lost = len(summary.unfinished) - summary.continued
    if lost and part is not None:
        raise DeliveryIncomplete(f"{lost} of {summary.recipients} recipients neither posted nor continued")
    return summary
