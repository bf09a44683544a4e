"""Delivery: the one entry point every route and push uses to get a frame to its recipients.

`deliver` posts from this invocation, or, when sharding is on and the audience is larger than a shard, hands
each full shard to its own invocation while the store is still listing (see `sharding`) and posts the last
shard itself. A shard whose invocation cannot be started is posted here instead: nothing is lost.

An asynchronous invocation passes its `part` (its claim, `claims`): what it posts itself is recorded there, and its
shards are named after it, so a retry that lists and splits again finds its shards' claims and posts nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future

from lambda_src.delivery import claims, sharding
from lambda_src.delivery.claims import Part
from lambda_src.delivery.fanout import FanoutSummary
from lambda_src.delivery.plan import Delivery, Lineage
from lambda_src.observability.context import current_request_id
from lambda_src.protocol.events import Shard
from lambda_src.services import Services


def deliver(
    connection_ids: Iterable[str], delivery: Delivery, services: Services, *, part: Part | None = None
) -> FanoutSummary:
    """Post `delivery` to every recipient, here or spread over shard invocations; returns this invocation's part.
    `part` is the claim of the asynchronous invocation posting (None for a `broadcast` route).

    Each full shard is handed to its own invocation while the listing goes on; this invocation keeps the last,
    so the first shards are posting long before a 10,000-key listing ends.
    """
    invoker = services.invoker
    shard_size = services.config.shard_size
    if invoker is None or shard_size == 0:
        ids = list(dict.fromkeys(connection_ids))
        return sharding.post_here(ids, delivery, services, part=part)
    origin = current_request_id()
    parent = claims.splitting_parent(part)
    starts: list[tuple[Shard, Future[Part | None]]] = []
    kept: list[str] = []
    for index, (group, last) in enumerate(sharding.plan(connection_ids, delivery.data, shard_size)):
        if last:
            kept = group
            break
        shard = Shard(
            index, delivery.data, tuple(group), delivery.room, origin, claims.child_token("shard", parent, index)
        )
        starts.append((shard, services.executor.submit(sharding.start, invoker, shard, services)))
    if not starts:
        return sharding.post_here(kept, delivery, services, part=part)
    unstarted = [(shard, held) for shard, started in starts if (held := started.result()) is not None]
    services.logger.info(
        "sharded",
        extra={
            "recipients": sum(len(shard.connection_ids) for shard, _ in starts) + len(kept),
            "shards": len(starts) + 1,
            "invoked": len(starts) - len(unstarted),
            "keptLocally": len(kept) + sum(len(shard.connection_ids) for shard, _ in unstarted),
        },
    )
    summary = sharding.post_here(kept, delivery, services, lineage=Lineage(origin, shard=len(starts)), part=part)
    # Each shard whose invocation could not be started is posted here under its own claim, which this invocation
    # holds (`sharding.start`): a late start of its invocation then finds it held, or posted.
    for shard, held in unstarted:
        with held:
            lineage = Lineage(origin, shard=shard.index)
            posted = sharding.post_here(list(shard.connection_ids), delivery, services, lineage=lineage, part=held)
        summary = summary.plus(posted)
    return summary
