"""Segment shards: a broadcast to everyone splits the store's listing over invocations, not only the posting.

An id-list shard (`sharding`) carries its recipients, so the invocation that split the fan-out still listed every
id itself: at 10,000 connections that is ten S3 pages or several Scan pages in one invocation before the last shard
can start. A broadcast to everyone needs no list from anyone: the store lists one segment of itself on request
(`ConnectionStore.connection_ids(segment, segments)`: DynamoDB's parallel Scan, the S3 store's key ranges), so
`deliver_to_everyone`:

1. lists up to `SHARD_SIZE` + 1 ids (one page): when the listing ends there, it posts them here, as before;
2. estimates the audience from a sample segment (`estimate_connections`) and picks `segments` so that each
   segment holds about `SEGMENT_FILL` of `SHARD_SIZE` ids;
3. starts one invocation per segment (event `SegmentShard`: segment, segments, the frame, no ids), and lists and
   posts here only a segment whose invocation could not be started. It keeps no segment for itself: it has
   already paid for the first page and the sample, and a `broadcast` route's invocation is synchronous (API
   Gateway's 29 s), so it ends as soon as the segments are handed out.

Each segment invocation (`on_segment`) lists its own segment and delivers it through `delivery.deliver`: a
segment larger than `SHARD_SIZE` (the estimate is a sample) splits itself into id-list shards as any large
fan-out does, because DynamoDB's segments of one count do not nest in those of another. So `SHARD_SIZE` keeps its
meaning (the most recipients one invocation posts to), and the segments of one count are disjoint and complete,
which the store contract holds: nothing is lost or posted twice. Rooms keep id-list shards: a room is queried,
not scanned, and one Query page holds 1 MB of members.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from lambda_src.aws.lambda_invoker import Invoker
from lambda_src.delivery import claims
from lambda_src.delivery.claims import Part
from lambda_src.delivery.deliver import deliver
from lambda_src.delivery.fanout import FanoutSummary
from lambda_src.delivery.plan import Delivery
from lambda_src.observability import metrics
from lambda_src.observability.context import current_request_id, log_context
from lambda_src.protocol.events import SegmentShard
from lambda_src.services import Services
from lambda_src.store.contract import ConnectionStore

SEGMENTS_FACT = "segments"
"""The segment count a push's claim keeps (`claims.Part.remember`) once it split into segments."""
SEGMENT_FILL = 0.8
"""Segments are sized to this share of `SHARD_SIZE`: the estimate and the segments' sizes vary by some percent,
and a segment over `SHARD_SIZE` costs a further invocation for its excess."""
MAX_SEGMENT_SHARDS = 1000
"""At most this many segments (Lambda's default concurrency per Region); past it, segments split themselves."""
SAMPLE_FIRST_SEGMENTS = 4096
"""The estimate lists segment 0 of this many first, then of 8 times fewer until it holds `SAMPLE_MIN_IDS`."""
SAMPLE_STEP = 8
SAMPLE_MIN_IDS = 100
"""Ids a sample must hold: a count of 100 estimates the audience within about 10% (one standard deviation)."""


def estimate_connections(store: ConnectionStore) -> int:
    """How many connections the store holds, from the count of one sample segment times the segment count.

    Segments of random ids hold about equal shares. The first sample is small (1/4,096 of the store: one request
    at a million connections), and each next one is 8 times larger, so a small store costs a few small requests
    and the last sample is exact.
    """
    count = 0
    for segments in sample_segment_counts():
        count = sum(1 for _ in store.connection_ids(0, segments, expected=SAMPLE_MIN_IDS))
        if count >= SAMPLE_MIN_IDS:
            return count * segments
    return count  # the last sample is the whole store


def sample_segment_counts() -> Iterator[int]:
    """The segment counts the estimate samples segment 0 of, in turn: 4,096, 512, 64, 8, then 1 (the whole store)."""
    segments = SAMPLE_FIRST_SEGMENTS
    while segments > 1:
        yield segments
        segments = max(1, segments // SAMPLE_STEP)
    yield 1


def segment_count(estimate: int, shard_size: int) -> int:
    """Segments for an audience of about `estimate`: at least 2 (the caller saw more than `shard_size` ids)."""
    wanted = math.ceil(estimate / (shard_size * SEGMENT_FILL))
    return min(MAX_SEGMENT_SHARDS, max(2, wanted))


def deliver_to_everyone(
    *,
    data: bytes,
    services: Services,
    exclude: str | None = None,
    source: metrics.Source = metrics.Source.BROADCAST,
    admit: Callable[[int], None] | None = None,
    part: Part | None = None,
) -> FanoutSummary:
    """Post `data` to every stored connection but `exclude`; returns the part this invocation posted.

    Without sharding (no invoker, `SHARD_SIZE` 0) or within one shard, everything is posted here. Otherwise the
    listing is split into segments, each listed and posted by its own invocation. `admit` is called with the
    audience's size (exact within one shard, else `estimate_connections`) before anything is posted or started,
    and may raise to refuse the whole broadcast (the sender's fan-out budget does). `part` is the claim of the
    asynchronous invocation posting (a push): it keeps the segment count, so a retry splits into the same segments
    (and finds their claims) whatever its own estimate says.
    """
    invoker = services.invoker
    shard_size = services.config.shard_size
    if invoker is None or shard_size == 0:
        if admit is None:
            listing: Iterable[str] = _without(services.store.connection_ids(), exclude)
        else:
            listing = list(_without(services.store.connection_ids(), exclude))
            admit(len(listing))
        return deliver(listing, Delivery(data, source=source), services, part=part)
    listing = _without(services.store.connection_ids(expected=shard_size + 1), exclude)
    probe = list(itertools.islice(listing, shard_size + 1))
    if len(probe) <= shard_size and (part is None or part.fact(SEGMENTS_FACT) is None):
        if admit is not None:
            admit(len(probe))
        return deliver(probe, Delivery(data, source=source), services, part=part)
    segments = part.fact(SEGMENTS_FACT) if part is not None else None
    estimate = None
    if segments is None or admit is not None:
        estimate = estimate_connections(services.store)
    if admit is not None and estimate is not None:
        admit(estimate)
    if segments is None:
        segments = segment_count(estimate or 0, shard_size)
        if part is not None:
            segments = part.remember(SEGMENTS_FACT, segments)
    origin = current_request_id()
    parent = claims.splitting_parent(part)

    def segment(k: int) -> SegmentShard:
        token = claims.child_token("segment", parent, f"{k}-of-{segments}")
        return SegmentShard(k, segments, data, origin, exclude, token)

    starts: list[tuple[SegmentShard, Future[Part | None]]] = [
        (segment(k), services.executor.submit(start, invoker, segment(k), services)) for k in range(segments)
    ]
    unstarted = [(shard, held) for shard, started in starts if (held := started.result()) is not None]
    services.logger.info(
        "segmented",
        extra={
            "estimated": estimate,
            "segments": segments,
            "invoked": segments - len(unstarted),
            "keptLocally": len(unstarted),
        },
    )
    summary = FanoutSummary(recipients=0, delivered=0, gone=0, failed=0, ms=0)
    for shard, held in unstarted:
        with held:
            summary = summary.plus(post_segment(shard, services, source, held))
    return summary


def start(invoker: Invoker, shard: SegmentShard, services: Services) -> Part | None:
    """Start the segment's invocation; None when it started (or another invocation holds or has posted the segment),
    else the segment's claim, held by this invocation, which lists and posts the segment itself (logged)."""
    try:
        invoker.invoke_async(shard.to_event())
    except Exception as error:
        fields = {"segment": shard.segment, "segments": shard.segments, "error": type(error).__name__}
        # The invocation may have started all the same (the answer was lost): whichever holds the segment posts it.
        token = segment_token(shard)
        part = None if token is None else claims.hold(token, services, wait=False)
        if part is None:
            services.logger.info("segment invocation failed but started: its invocation posts it", extra=fields)
            return None
        services.logger.warning("segment invocation failed; posting it here", extra=fields)
        return part
    return None


def segment_token(shard: SegmentShard) -> str | None:
    """The token of the segment's claim: the one its event names (older events name none: derived from the origin)."""
    return shard.part or claims.legacy_segment_token(shard.origin, shard.segment, shard.segments)


def on_segment(shard: SegmentShard, services: Services) -> dict[str, Any]:
    """A segment invocation: list the segment, post it (split further if it is over `SHARD_SIZE`) to whoever its
    claim has not answered yet, log its line; nothing when another invocation posted the segment."""
    token = segment_token(shard)
    part = None if token is None else claims.hold(token, services, wait=True)
    if part is None and token is not None:
        services.logger.info(
            "segment already posted: not posted again",
            extra={"segment": shard.segment, "segments": shard.segments, "origin": shard.origin},
        )
        return {"statusCode": 200, "claimed": False}
    with part if part is not None else contextlib.nullcontext():
        summary = post_segment(shard, services, metrics.Source.SHARD, part)
    return {"statusCode": 200, **summary.as_log_fields()}


def post_segment(
    shard: SegmentShard, services: Services, source: metrics.Source, part: Part | None = None
) -> FanoutSummary:
    """List one segment and deliver it from this invocation; its summary line names the segment and the origin."""
    listing = services.store.connection_ids(shard.segment, shard.segments, expected=_expected_in_segment(services))
    with log_context(segment=shard.segment, segments=shard.segments, origin=shard.origin):
        return deliver(_without(listing, shard.exclude), Delivery(shard.data, source=source), services, part=part)


def _expected_in_segment(services: Services) -> int:
    # Segments were counted to hold `SEGMENT_FILL` of `SHARD_SIZE` each (`segment_count`).
    return math.ceil(services.config.shard_size * SEGMENT_FILL)


def _without(ids: Iterable[str], exclude: str | None) -> Iterator[str]:
    return iter(ids) if exclude is None else (cid for cid in ids if cid != exclude)
