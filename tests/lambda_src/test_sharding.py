"""Sharded fan-out: a large audience split over asynchronous invocations of the same function.

These are id-list shards, what a room's fan-out uses (a broadcast to everyone splits its listing instead:
tests/lambda_src/test_segments.py)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace

import pytest

from lambda_src.app import handle
from lambda_src.delivery.pool import fanout_pool
from lambda_src.delivery.sharding import plan
from lambda_src.limits import MAX_ASYNC_PAYLOAD_BYTES, MAX_MESSAGE_BYTES
from lambda_src.observability.logs import JsonFormatter, get_logger
from lambda_src.protocol.events import Shard, parse_event
from lambda_src.services import Services

from .conftest import FakeContext, add_connections, invoke, message_event, sns_record
from .connections_server import ConnectionsServer


class InProcessInvoker:
    """Runs each shard event through the handler on another thread, as Lambda would in another environment.

    The real Invoke API path (boto3 -> Lambda API -> runtime) is covered by the local stack's tests."""

    def __init__(self, services: Services, fail_shards: int = 0, lose_answers: int = 0, deliveries: int = 1) -> None:
        self.services = services
        self.pool = fanout_pool(4)
        self.futures: list[Future[object]] = []
        self.payload_sizes: list[int] = []
        self.fail_shards = fail_shards
        self.lose_answers = lose_answers
        """Invokes that start the shard and then raise, as one whose answer was lost on the way back does."""
        self.deliveries = deliveries
        """How many times each event runs: Lambda may deliver one event more than once."""

    def invoke_async(self, payload: bytes) -> None:
        if self.fail_shards:
            self.fail_shards -= 1
            raise ConnectionError("invoke refused")
        self.payload_sizes.append(len(payload))
        event = json.loads(payload)
        started: list[Future[object]] = [
            self.pool.submit(handle, event, FakeContext("shard"), self.services) for _ in range(self.deliveries)
        ]
        self.futures.extend(started)
        if self.lose_answers:
            self.lose_answers -= 1
            for future in started:
                future.result(timeout=60)  # the shard has run (and claimed) before the splitter learns anything
            raise TimeoutError("read timeout: the invoke's answer was lost")

    def wait(self) -> list[object]:
        results = [f.result(timeout=60) for f in self.futures]
        self.pool.shutdown()
        return results


ROOM = "lobby"


@pytest.fixture
def sharded(services: Services) -> Services:
    services.config = replace(services.config, shard_size=100)
    return services


def _summaries(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    keys = ("recipients", "delivered", "gone", "shard", "origin")
    return sorted(
        ({k: r.__dict__[k] for k in keys} for r in caplog.records if r.getMessage() == "fanout"),
        key=lambda s: str(s["shard"]),
    )


def _sharded_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    keys = ("recipients", "shards", "invoked", "keptLocally")
    return [{k: r.__dict__[k] for k in keys} for r in caplog.records if r.getMessage() == "sharded"]


def test_plan_keeps_every_shard_event_within_the_async_payload_limit() -> None:
    ids = [f"{i:012d}-padding-to-make-ids-long=" for i in range(20_000)]
    data = b"\x00" * MAX_MESSAGE_BYTES

    groups = [group for group, _ in plan(ids, data, shard_size=10_000)]

    assert [cid for group in groups for cid in group] == ids
    assert len(groups) > 2
    for i, group in enumerate(groups):
        event = Shard(i, data, tuple(group), "room-name-at-most-64", "origin-request-id").to_event()
        assert len(event) <= MAX_ASYNC_PAYLOAD_BYTES


def test_plan_respects_the_shard_size_and_marks_only_the_last_group() -> None:
    groups = list(plan([str(i) for i in range(250)], b"x", shard_size=100))

    assert [(len(group), last) for group, last in groups] == [(100, False), (100, False), (50, True)]


def test_plan_drops_repeated_ids() -> None:
    assert list(plan(["a", "b", "a", "c", "b"], b"x", shard_size=2)) == [(["a", "b"], False), (["c"], True)]


def test_plan_hands_out_a_full_shard_before_the_listing_ends() -> None:
    listed: list[str] = []

    def listing() -> Iterator[str]:
        for i in range(1_000):
            listed.append(str(i))
            yield str(i)

    first, last = next(plan(listing(), b"x", shard_size=100))

    assert (len(first), last) == (100, False)
    assert len(listed) == 101  # one id past the shard: proof that more follow, and nothing more was listed


def test_shard_event_round_trips() -> None:
    shard = Shard(2, "héllo".encode(), ("a", "b/c="), "lobby", "req-1")

    assert parse_event(json.loads(shard.to_event())) == shard


def test_room_broadcast_over_shard_size_reaches_everyone_exactly_once_in_shards(
    sharded: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    ids = [f"c{i:03d}" for i in range(250)]
    add_connections(sharded, ids, rooms={ROOM: ids})
    connections_server.gone = {"c007", "c150", "c249"}
    invoker = InProcessInvoker(sharded)
    sharded.invoker = invoker

    invoke(sharded, message_event("c000", {"action": "broadcast", "message": "hi", "room": ROOM}))
    invoker.wait()

    assert Counter(connections_server.delivered_to()) == Counter(set(ids) - connections_server.gone)
    assert _summaries(caplog) == [
        {"recipients": 100, "delivered": 99, "gone": 1, "shard": 0, "origin": "req-test"},
        {"recipients": 100, "delivered": 99, "gone": 1, "shard": 1, "origin": "req-test"},
        {"recipients": 50, "delivered": 49, "gone": 1, "shard": 2, "origin": "req-test"},
    ]
    assert _sharded_lines(caplog) == [{"recipients": 250, "shards": 3, "invoked": 2, "keptLocally": 50}]
    assert sorted(sharded.store.connection_ids()) == sorted(set(ids) - connections_server.gone)
    assert sorted(sharded.store.room_members(ROOM)) == sorted(set(ids) - connections_server.gone)


def test_room_push_is_sharded_too(sharded: Services, connections_server: ConnectionsServer) -> None:
    ids = [f"c{i:03d}" for i in range(201)]
    add_connections(sharded, ids, rooms={ROOM: ids})
    invoker = InProcessInvoker(sharded)
    sharded.invoker = invoker

    invoke(sharded, {"Records": [sns_record("tick", {"room": ROOM})]})
    invoker.wait()

    assert len(invoker.payload_sizes) == 2
    assert Counter(connections_server.delivered_to()) == Counter(ids)


def test_shard_that_cannot_be_invoked_is_posted_locally(
    sharded: Services, connections_server: ConnectionsServer
) -> None:
    ids = [f"c{i:03d}" for i in range(300)]
    add_connections(sharded, ids, rooms={ROOM: ids})
    invoker = InProcessInvoker(sharded, fail_shards=1)
    sharded.invoker = invoker

    invoke(sharded, message_event("c000", {"action": "broadcast", "message": "hi", "room": ROOM}))
    invoker.wait()

    assert len(invoker.futures) == 1
    assert Counter(connections_server.delivered_to()) == Counter(ids)


def test_a_shard_whose_invoke_answer_was_lost_is_posted_once_by_the_invocation_that_started(
    sharded: Services, connections_server: ConnectionsServer
) -> None:
    # The splitter cannot tell a lost answer from a refused invoke: the shard's claim decides who posts it.
    ids = [f"c{i:03d}" for i in range(300)]
    add_connections(sharded, ids, rooms={ROOM: ids})
    invoker = InProcessInvoker(sharded, lose_answers=1)
    sharded.invoker = invoker

    invoke(sharded, message_event("c000", {"action": "broadcast", "message": "hi", "room": ROOM}))
    invoker.wait()

    assert Counter(connections_server.delivered_to()) == Counter(ids)


def test_a_shard_event_delivered_twice_is_posted_once(sharded: Services, connections_server: ConnectionsServer) -> None:
    ids = [f"c{i:03d}" for i in range(250)]
    add_connections(sharded, ids, rooms={ROOM: ids})
    invoker = InProcessInvoker(sharded, deliveries=2)
    sharded.invoker = invoker

    invoke(sharded, message_event("c000", {"action": "broadcast", "message": "hi", "room": ROOM}))
    results = invoker.wait()

    assert Counter(connections_server.delivered_to()) == Counter(ids)
    assert sum(1 for result in results if isinstance(result, dict) and result.get("claimed") is False) == 2


class FormattingRecorder(logging.Handler):
    """Formats each line as the service's handler does, at emit time and on the emitting thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, dict[str, object]]] = []
        self.formatter = JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.threadName or "", json.loads(self.format(record))))


def test_a_line_logged_on_the_pool_carries_the_invocations_request_and_connection_id(
    sharded: Services, connections_server: ConnectionsServer
) -> None:
    ids = [f"c{i:03d}" for i in range(150)]
    add_connections(sharded, ids, rooms={ROOM: ids})
    invoker = InProcessInvoker(sharded, fail_shards=1)
    sharded.invoker = invoker
    recorder = FormattingRecorder()
    logger = get_logger()
    logger.addHandler(recorder)
    try:
        invoke(sharded, message_event("c000", {"action": "broadcast", "message": "hi", "room": ROOM}))
        invoker.wait()
    finally:
        logger.removeHandler(recorder)

    ((thread, line),) = [
        (thread, line)
        for thread, line in recorder.lines
        if line["message"] == "shard invocation failed; posting it here"
    ]
    assert thread.startswith("fanout"), "the line must come from a pool thread"
    assert (line["requestId"], line["connectionId"]) == ("req-test", "c000")


def test_without_an_invoker_everything_is_posted_here(sharded: Services, connections_server: ConnectionsServer) -> None:
    ids = [f"c{i:03d}" for i in range(150)]
    add_connections(sharded, ids)
    sharded.invoker = None

    invoke(sharded, message_event("c000", {"action": "broadcast", "message": "hi"}))

    assert Counter(connections_server.delivered_to()) == Counter(ids)
