"""Segment shards: a broadcast to everyone over `SHARD_SIZE` splits the store's listing over invocations, on both
stores. Each segment invocation lists its own segment (its event carries no ids), nothing is lost or posted twice."""

from __future__ import annotations

import base64
import json
import logging
import random
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from lambda_src.config import Config
from lambda_src.delivery.segments import MAX_SEGMENT_SHARDS, estimate_connections, segment_count
from lambda_src.protocol.events import SegmentShard, UnknownEvent, parse_event
from lambda_src.services import Services
from lambda_src.store.contract import MAX_SEGMENTS
from lambda_src.store.open import StoreKind
from lambda_src.wiring import from_config

from .conftest import add_connections, invoke, message_event, sns_record
from .connections_server import ConnectionsServer
from .stores import open_fresh_store
from .test_sharding import InProcessInvoker

SHARD_SIZE = 20
CLIENTS = 120


def random_ids(count: int, seed: int = 18) -> list[str]:
    """Ids shaped as API Gateway's (base64 of random bytes, so the segments share them about equally)."""
    generator = random.Random(seed)
    return [base64.b64encode(generator.randbytes(9)).decode("ascii") + "=" for _ in range(count)]


@pytest.fixture(params=list(StoreKind))
def services(
    request: pytest.FixtureRequest,
    moto_endpoint: str,
    connections_server: ConnectionsServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Services]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    kind = str(request.param)
    _, name = open_fresh_store(kind, moto_endpoint)
    config = Config(
        connections_bucket=name if kind == StoreKind.S3 else "",
        connections_table="" if kind == StoreKind.S3 else name,
        connections_url=connections_server.url,
        connection_store=StoreKind(kind),
        shard_size=SHARD_SIZE,
    )
    built = from_config(config)
    built.clock_ms = lambda: 1_700_000_000_000
    yield built
    built.executor.shutdown(wait=True)


def _lines(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, Any]]:
    return [r.__dict__ for r in caplog.records if r.getMessage() == message]


def _segment_events(invoker: RecordingInvoker) -> list[dict[str, Any]]:
    return [e["segment"] for e in invoker.events if e.get("source") == "wspush.segment"]


class RecordingInvoker(InProcessInvoker):
    """`InProcessInvoker` that keeps each event it was handed."""

    def __init__(self, services: Services, fail_shards: int = 0) -> None:
        super().__init__(services, fail_shards)
        self.events: list[dict[str, Any]] = []

    def invoke_async(self, payload: bytes) -> None:
        if not self.fail_shards:
            self.events.append(json.loads(payload))
        super().invoke_async(payload)


def test_broadcast_to_everyone_is_listed_by_segment_shards_exactly_once(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    ids = random_ids(CLIENTS)
    add_connections(services, ids)
    connections_server.gone = {ids[3], ids[60], ids[119]}
    invoker = RecordingInvoker(services)
    services.invoker = invoker

    invoke(services, message_event(ids[0], {"action": "broadcast", "message": "hi"}))
    invoker.wait()

    assert Counter(connections_server.delivered_to()) == Counter(set(ids) - connections_server.gone)
    [segmented] = _lines(caplog, "segmented")
    segments = int(segmented["segments"])
    assert segments == segment_count(int(segmented["estimated"]), SHARD_SIZE)
    assert (segmented["invoked"], segmented["keptLocally"]) == (segments, 0)
    events = _segment_events(invoker)
    assert sorted(e["segment"] for e in events) == list(range(segments))
    assert all("connectionIds" not in e and e["segments"] == segments for e in events)
    fanouts = [line for line in _lines(caplog, "fanout") if "segment" in line]
    assert sorted({int(line["segment"]) for line in fanouts}) == list(range(segments))
    assert {line["origin"] for line in fanouts} == {"req-test"}
    assert sum(int(line["recipients"]) for line in _lines(caplog, "fanout")) == CLIENTS
    assert all(int(line["recipients"]) <= SHARD_SIZE for line in _lines(caplog, "fanout"))
    assert sorted(services.store.connection_ids()) == sorted(set(ids) - connections_server.gone)


def test_echo_false_leaves_the_sender_out_of_every_segment(
    services: Services, connections_server: ConnectionsServer
) -> None:
    ids = random_ids(CLIENTS)
    add_connections(services, ids)
    invoker = RecordingInvoker(services)
    services.invoker = invoker

    invoke(services, message_event(ids[5], {"action": "broadcast", "message": "hi", "echo": False}))
    invoker.wait()

    assert Counter(connections_server.delivered_to()) == Counter(set(ids) - {ids[5]})
    assert {e["exclude"] for e in _segment_events(invoker)} == {ids[5]}


def test_push_to_everyone_is_segmented_too(services: Services, connections_server: ConnectionsServer) -> None:
    ids = random_ids(CLIENTS)
    add_connections(services, ids)
    invoker = RecordingInvoker(services)
    services.invoker = invoker

    invoke(services, {"Records": [sns_record("tick")]})
    invoker.wait()

    assert _segment_events(invoker)
    assert Counter(connections_server.delivered_to()) == Counter(ids)


def test_segment_whose_invocation_fails_is_listed_and_posted_here(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    ids = random_ids(CLIENTS)
    add_connections(services, ids)
    invoker = RecordingInvoker(services, fail_shards=1)
    services.invoker = invoker

    invoke(services, message_event(ids[0], {"action": "broadcast", "message": "hi"}))
    invoker.wait()

    [segmented] = _lines(caplog, "segmented")
    assert (segmented["invoked"], segmented["keptLocally"]) == (int(segmented["segments"]) - 1, 1)
    assert Counter(connections_server.delivered_to()) == Counter(ids)


def test_segment_larger_than_shard_size_splits_itself_into_id_shards(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    ids = random_ids(50)
    add_connections(services, ids)
    invoker = RecordingInvoker(services)
    services.invoker = invoker
    whole = SegmentShard(0, 1, b"hi", "req-origin")

    invoke(services, json.loads(whole.to_event()))
    invoker.wait()

    assert [len(e["shard"]["connectionIds"]) for e in invoker.events] == [SHARD_SIZE, SHARD_SIZE]
    assert Counter(connections_server.delivered_to()) == Counter(ids)
    [segment_line] = [line for line in _lines(caplog, "fanout") if "segment" in line]
    assert (segment_line["segment"], segment_line["origin"], segment_line["recipients"]) == (0, "req-origin", 10)


def test_within_one_shard_everything_is_posted_here_from_one_listing(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    ids = random_ids(SHARD_SIZE)
    add_connections(services, ids)
    invoker = RecordingInvoker(services)
    services.invoker = invoker

    invoke(services, message_event(ids[0], {"action": "broadcast", "message": "hi"}))
    invoker.wait()

    assert invoker.events == []
    assert _lines(caplog, "segmented") == []
    assert Counter(connections_server.delivered_to()) == Counter(ids)


def test_estimate_counts_a_sample_segment_and_is_exact_for_a_small_store(services: Services) -> None:
    ids = random_ids(CLIENTS)
    add_connections(services, ids)

    assert estimate_connections(services.store) == CLIENTS


class SampledStore:
    """Only `connection_ids`, over ids dealt to segments by a hash as DynamoDB deals items: for the arithmetic."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.listed: list[int] = []

    def connection_ids(self, segment: int = 0, segments: int = 1, expected: int | None = None) -> Iterator[str]:
        self.listed.append(segments)
        return (cid for cid in self.ids if zlib.crc32(cid.encode()) % segments == segment)


def test_estimate_of_a_large_store_lists_only_a_small_sample() -> None:
    store = SampledStore(random_ids(200_000))

    estimate = estimate_connections(store)  # type: ignore[arg-type]

    assert abs(estimate - 200_000) / 200_000 < 0.3
    assert store.listed == [4096, 512]  # 1/512 of the store holds the 100 ids a sample needs


def test_segment_count_fills_segments_to_most_of_a_shard_and_stays_in_bounds() -> None:
    assert segment_count(10_000, 1000) == 13
    assert segment_count(0, 1000) == 2
    assert segment_count(10**9, 1000) == MAX_SEGMENT_SHARDS


def test_segment_event_round_trips() -> None:
    shard = SegmentShard(3, 7, "héllo".encode(), "req-1", exclude="abc=")

    assert parse_event(json.loads(shard.to_event())) == shard


@pytest.mark.parametrize(
    "segment",
    [
        {"segment": 7, "segments": 7, "data": ""},
        {"segment": -1, "segments": 7, "data": ""},
        {"segment": 0, "segments": MAX_SEGMENTS + 1, "data": ""},
        {"segment": True, "segments": 2, "data": ""},
        {"segment": 0, "segments": 2, "data": "not base64!"},
        {"segment": 0, "segments": 2, "data": "", "exclude": 5},
        "not an object",
    ],
)
def test_malformed_segment_event_is_unknown(segment: object) -> None:
    assert isinstance(parse_event({"source": "wspush.segment", "segment": segment}), UnknownEvent)
