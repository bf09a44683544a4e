"""Continuations: what a fan-out could not post before its deadline is posted by a new invocation, once.

The deadline is driven by the posts themselves (a context whose remaining time runs out after a number of
deliveries), so the tests wait for events, not for clocks. The chain's invocations run one after another
through the real handler; the Invoke API path (boto3 -> Lambda API -> runtime) is the local stack's test.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from lambda_src.app import handle
from lambda_src.aws.posting import DEADLINE_MARGIN_MS
from lambda_src.delivery.continuation import pack
from lambda_src.delivery.pool import fanout_pool
from lambda_src.limits import MAX_ASYNC_PAYLOAD_BYTES, MAX_MESSAGE_BYTES
from lambda_src.protocol.events import Continuation, UnknownEvent, parse_event
from lambda_src.services import Services

from .conftest import add_connections, message_event, sns_record
from .connections_server import ConnectionsServer


@dataclass
class BudgetContext:
    """Lambda's context whose deadline comes once `budget` posts were answered 200 during this invocation."""

    server: ConnectionsServer
    budget: int
    aws_request_id: str = "req-test"
    function_name: str = "wspush-test-handler"
    start: int = -1

    def __post_init__(self) -> None:
        self.start = len(self.server.delivered_to())

    def get_remaining_time_in_millis(self) -> int:
        spent = len(self.server.delivered_to()) - self.start
        return 60_000 if spent < self.budget else DEADLINE_MARGIN_MS // 2


@dataclass
class ChainInvoker:
    """Queues the asynchronous events the function starts; `drain` runs them one by one, each with its own budget."""

    server: ConnectionsServer
    budget: int
    events: list[dict[str, Any]] = field(default_factory=list)
    payload_sizes: list[int] = field(default_factory=list)
    fail: int = 0

    def invoke_async(self, payload: bytes) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("invoke refused")
        self.payload_sizes.append(len(payload))
        self.events.append(json.loads(payload))

    def drain(self, services: Services, limit: int = 100) -> int:
        ran = 0
        while self.events and ran < limit:
            event = self.events.pop(0)
            handle(event, BudgetContext(self.server, self.budget, f"cont-{ran}"), services)
            ran += 1
        return ran


def with_concurrency(services: Services, threads: int) -> None:
    """The fan-out posts on as many threads as its pool has (one lane each): the pool is what sets it."""
    services.config = replace(services.config, fanout_concurrency=threads)
    services.executor = fanout_pool(threads)


@pytest.fixture(autouse=True)
def _capture_service_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wspush")


def _fanout_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    keys = ("recipients", "delivered", "unfinished", "continued", "failed")
    return [
        {k: r.__dict__[k] for k in keys} | {"hop": r.__dict__.get("continuation")}
        for r in caplog.records
        if r.getMessage() == "fanout"
    ]


def test_a_fan_out_cut_by_its_deadline_is_continued_until_everyone_got_the_frame_exactly_once(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"conn-{i:03d}" for i in range(120)]
    add_connections(services, ids)
    invoker = ChainInvoker(connections_server, budget=30)
    services.invoker = invoker
    services.config = replace(services.config, shard_size=0)
    with_concurrency(services, 4)

    handle(
        message_event("conn-000", {"action": "broadcast", "message": "hi"}),
        BudgetContext(connections_server, 30),
        services,
    )
    assert len(invoker.events) == 1, "the first invocation hands the rest to one continuation"
    hops = 1 + invoker.drain(services)

    assert Counter(connections_server.delivered_to()) == Counter(dict.fromkeys(ids, 1))
    lines = _fanout_lines(caplog)
    assert len(lines) == hops >= 3
    assert [line["hop"] for line in lines] == [None, *range(1, hops)]
    assert sum(line["delivered"] for line in lines) == 120
    for line, following in itertools.pairwise(lines):
        assert line["continued"] == line["unfinished"] == following["recipients"] > 0
    assert lines[-1]["unfinished"] == lines[-1]["continued"] == 0
    assert all(line["failed"] == 0 for line in lines)
    assert not [r for r in caplog.records if r.name == "wspush" and r.levelno >= logging.WARNING]


def test_a_push_is_continued_too(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"conn-{i:02d}" for i in range(40)]
    add_connections(services, ids)
    invoker = ChainInvoker(connections_server, budget=15)
    services.invoker = invoker
    with_concurrency(services, 2)

    result = handle({"Records": [sns_record("pushed")]}, BudgetContext(connections_server, 15), services)
    invoker.drain(services)

    assert result["statusCode"] == 200
    assert Counter(connections_server.delivered_to()) == Counter(dict.fromkeys(ids, 1))
    assert {frame for cid in ids for frame in connections_server.frames(cid)} == {"pushed"}


def test_a_post_whose_retry_would_cross_the_deadline_is_continued_not_retried(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    add_connections(services, ["only"])
    connections_server.scripted = {"only": [500]}
    invoker = ChainInvoker(connections_server, budget=10)
    services.invoker = invoker

    @dataclass
    class AfterFirstAttempt:
        aws_request_id: str = "req-test"

        def get_remaining_time_in_millis(self) -> int:
            return 60_000 if not connections_server.attempts else DEADLINE_MARGIN_MS // 2

    invoke_result = handle({"Records": [sns_record("x", {"connectionId": "only"})]}, AfterFirstAttempt(), services)
    assert connections_server.attempts["only"] == 1, "no retry started past the deadline margin"
    assert connections_server.delivered_to() == []
    invoker.drain(services)

    assert invoke_result["statusCode"] == 200
    assert connections_server.delivered_to() == ["only"]
    first, second = _fanout_lines(caplog)
    assert (first["unfinished"], first["continued"], first["failed"]) == (1, 1, 0)
    assert (second["delivered"], second["hop"]) == (1, 1)


def test_a_continuation_that_cannot_be_started_is_an_error_line_counting_the_recipients_lost(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"conn-{i:02d}" for i in range(20)]
    add_connections(services, ids)
    services.invoker = ChainInvoker(connections_server, budget=5, fail=1)
    with_concurrency(services, 1)

    handle(
        message_event("conn-00", {"action": "broadcast", "message": "hi"}),
        BudgetContext(connections_server, 5),
        services,
    )

    [line] = _fanout_lines(caplog)
    lost = [r for r in caplog.records if r.getMessage() == "continuation not started; recipients not delivered"]
    assert [(r.levelno, r.__dict__["lost"], r.__dict__["error"]) for r in lost] == [
        (logging.ERROR, line["unfinished"], "ConnectionError")
    ]
    assert line["continued"] == 0 and line["unfinished"] == 20 - line["delivered"] > 0


def test_a_remainder_too_large_for_one_event_is_split_into_continuations_that_each_fit() -> None:
    ids = [f"{i:012d}-padding-to-make-ids-long=" for i in range(20_000)]
    data = b"\x00" * MAX_MESSAGE_BYTES

    groups = list(pack(ids, data))

    assert [cid for group in groups for cid in group] == ids
    assert len(groups) > 2
    for group in groups:
        event = Continuation(data, tuple(group), "room-name-at-most-64-characters" * 2, "origin-request-id", 999)
        assert len(event.to_event()) <= MAX_ASYNC_PAYLOAD_BYTES


def test_a_continuation_event_round_trips_and_malformed_ones_are_unknown() -> None:
    sent = Continuation(b"frame \xff", ("a", "b/c"), "lobby", "req-1", 3)

    assert parse_event(json.loads(sent.to_event())) == sent
    for broken in (
        {"hop": 0, "data": "", "connectionIds": []},
        {"hop": True, "data": "", "connectionIds": []},
        {"hop": 1, "data": "not base64!", "connectionIds": []},
        {"hop": 1, "data": "", "connectionIds": [1]},
        {"hop": 1, "data": "", "connectionIds": [], "room": 5},
    ):
        assert isinstance(parse_event({"source": "wspush.continuation", "continuation": broken}), UnknownEvent)
