"""What travels together through a fan-out, so that a call site reads as a sentence.

`Delivery` is the frame and where it goes (its room, counted as which metrics source); `Lineage` is which part of
a split fan-out an invocation posts (a shard, a continuation) and the request that split it; `Sender` is what
posts (the poster, the pool its posts run on, the store it prunes, the logger). `deliver(ids, delivery, services)`
and `fan_out(ids, delivery.data, sender)` take these instead of loose parameters.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from lambda_src.aws.posting import Poster
from lambda_src.observability.context import current_request_id
from lambda_src.observability.metrics import Source
from lambda_src.services import Services
from lambda_src.store.contract import ConnectionStore


@dataclass(frozen=True)
class Delivery:
    """One frame on its way: its bytes, the room whose members it serves (None: no room to prune from), and the
    metrics source it is counted under."""

    data: bytes
    room: str | None = None
    source: Source = Source.BROADCAST


@dataclass(frozen=True)
class Lineage:
    """Which part of a split fan-out this invocation posts: a shard's index or a continuation's hop, and `origin`,
    the request id of the invocation that split the fan-out (whose `sharded` line counts the shards) or started the
    chain. The part's summary line names them, so one broadcast can be followed through the logs."""

    origin: str | None
    shard: int | None = None
    hop: int = 0

    @classmethod
    def here(cls) -> Lineage:
        """The whole fan-out, posted by this invocation: its own request is the origin of what it hands on."""
        return cls(origin=current_request_id())

    def log_fields(self) -> dict[str, object]:
        if self.hop:
            return {"continuation": self.hop, "origin": self.origin}
        if self.shard is not None:
            return {"shard": self.shard, "origin": self.origin}
        return {}


@dataclass(frozen=True)
class Sender:
    """What posts a fan-out: the poster, the pool its posts run on, the store it prunes 410s from, the logger."""

    poster: Poster
    executor: Executor
    store: ConnectionStore
    logger: logging.Logger

    @classmethod
    def of(cls, services: Services) -> Sender:
        return cls(services.poster, services.executor, services.store, services.logger)
