"""What a retry repeats: every asynchronous event that fails raises, and its retry posts to nobody twice.

Lambda runs a failed asynchronous invocation again with the same event and the same request id, and may deliver one
event twice even when nothing failed. Each test makes an attempt fail part-way for a reason the function meets (a bug
that raises in the middle of a fan-out, a continuation whose invocation is refused, a process that died, a holder
that is still posting), runs the event again as Lambda would, and counts what every recipient got: exactly one frame.
The local stack's end-to-end proofs (its retries and dead-letter queue) are tests/util_e2e/test_async_failures.py.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from lambda_src import app
from lambda_src.app import handle, handler
from lambda_src.aws.posting import DEADLINE_MARGIN_MS
from lambda_src.delivery import claims, pacing
from lambda_src.delivery.claims import ClaimState, digest
from lambda_src.delivery.pool import fanout_pool
from lambda_src.errors import ConfigError, DeliveryIncomplete, PartBusy, PushFailed
from lambda_src.handlers import push
from lambda_src.protocol.events import Continuation, SegmentShard, Shard
from lambda_src.services import Services

from .conftest import FakeContext, add_connections, connect_event, invoke, message_event, sns_record
from .connections_server import ConnectionsServer

FAR_S = 4_000_000_000


@dataclass
class Deadline:
    """Lambda's context with a fixed time left."""

    remaining_ms: int
    aws_request_id: str = "req-retry"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class RefusingInvoker:
    """Refuses every asynchronous invoke, as a Lambda API that throttles `Invoke` would."""

    def __init__(self) -> None:
        self.refused = 0

    def invoke_async(self, payload: bytes) -> None:
        self.refused += 1
        raise ConnectionError("invoke refused")


class InlineInvoker:
    """Runs each event the function starts at once, through the handler (a request id of its own each)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.started = 0

    def invoke_async(self, payload: bytes) -> None:
        self.started += 1
        handle(json.loads(payload), FakeContext(f"req-inline-{self.started}"), self.services)


class QueueingInvoker:
    """Keeps the events the function starts; the test runs them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke_async(self, payload: bytes) -> None:
        self.events.append(json.loads(payload))


@pytest.fixture(autouse=True)
def _capture_service_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wspush")


@pytest.fixture
def bug_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A bug in the fan-out that raises after the n-th answered post of this process (set `[n]`; `[]` is no bug).

    It sits where the function's own code runs after each post (the pacer), outside the post's guard: what any
    unexpected exception in the middle of a fan-out looks like."""
    after: list[int] = []
    answered = [0]
    lock = threading.Lock()
    accepted = pacing.QuotaPacer.on_accepted

    def on_accepted(self: pacing.QuotaPacer) -> None:
        with lock:
            answered[0] += 1
            fail = bool(after) and answered[0] > after[0]
        if fail:
            raise RuntimeError("a bug in the middle of the fan-out")
        accepted(self)

    monkeypatch.setattr(pacing.QuotaPacer, "on_accepted", on_accepted)
    yield after


def _counts(server: ConnectionsServer) -> Counter[str]:
    return Counter(server.delivered_to())


def _shard(ids: list[str], token: str = "shard/test/0") -> dict[str, Any]:
    event: dict[str, Any] = json.loads(Shard(0, b"frame", tuple(ids), None, "req-splitter", token).to_event())
    return event


def test_a_shard_that_raises_midway_is_retried_and_posts_to_nobody_twice(
    services: Services, connections_server: ConnectionsServer, bug_after: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"c{i:03d}" for i in range(60)]
    event = _shard(ids)
    bug_after.append(25)

    with pytest.raises(RuntimeError, match="a bug"):
        invoke(services, event)  # an error, not a returned 500: Lambda retries it
    reached = set(connections_server.delivered_to())
    assert 25 <= len(reached) < 60

    bug_after.clear()
    result = invoke(services, event)  # Lambda's retry: the same event, the same request id

    assert _counts(connections_server) == Counter(dict.fromkeys(ids, 1))
    assert result["recipients"] == 60 - len(reached)
    [retried] = [r for r in caplog.records if r.getMessage() == "fanout" and "resumed" in r.__dict__]
    assert retried.__dict__["resumed"] == len(reached)
    [failed] = [r for r in caplog.records if r.getMessage() == "invocation failed"]
    assert failed.levelno == logging.ERROR


def test_every_post_in_flight_is_answered_and_recorded_before_a_fan_out_raises(
    services: Services, connections_server: ConnectionsServer, bug_after: list[int]
) -> None:
    # 16 lanes post at once: when one raises, the others' posts in flight land after it. Each must be recorded.
    ids = [f"c{i:03d}" for i in range(200)]
    event = _shard(ids, "shard/test/many-lanes")
    bug_after.append(40)
    with pytest.raises(RuntimeError):
        invoke(services, event)
    first = _counts(connections_server)

    bug_after.clear()
    invoke(services, event)

    assert max(first.values()) == 1
    assert _counts(connections_server) == Counter(dict.fromkeys(ids, 1))


def test_a_complete_shard_event_delivered_again_posts_nothing(
    services: Services, connections_server: ConnectionsServer
) -> None:
    event = _shard(["a", "b", "c"])
    invoke(services, event)

    again = handle(event, FakeContext("another-request"), services)

    assert again == {"statusCode": 200, "claimed": False}
    assert _counts(connections_server) == Counter({"a": 1, "b": 1, "c": 1})


def test_a_shard_whose_attempt_died_is_taken_over_once_its_lease_ended_and_posts_only_the_rest(
    services: Services, connections_server: ConnectionsServer
) -> None:
    ids = [f"c{i:02d}" for i in range(30)]
    # What a killed attempt leaves: its lease (its deadline, now past) and the answers of its last checkpoint.
    dead = ClaimState(owner="req-killed", lease_until_ms=1, answered=b"".join(digest(cid) for cid in ids[:12]))
    assert services.store.write_claim("shard/test/0", dead.encode(), None, FAR_S) is not None

    invoke(services, _shard(ids))

    assert _counts(connections_server) == Counter(dict.fromkeys(ids[12:], 1))


def test_a_shard_held_by_a_live_invocation_is_waited_for_and_then_posted_once(
    services: Services, connections_server: ConnectionsServer
) -> None:
    ids = ["a", "b", "c", "d"]
    event = _shard(ids)
    holder = claims.hold("shard/test/0", services, wait=False)
    assert holder is not None
    waiting = services.executor.submit(handle, event, Deadline(60_000, "req-duplicate"), services)
    time.sleep(3 * claims.WAIT_POLL_S)
    assert not waiting.done(), "a held part is waited for"

    holder.answered_all(["a", "b"])  # the holder posted two, then ended without finishing
    holder.release(complete=False)
    waiting.result(timeout=30)

    assert _counts(connections_server) == Counter({"c": 1, "d": 1})


def test_a_part_still_held_at_the_deadline_raises_part_busy_so_that_lambda_retries_it_later(
    services: Services, connections_server: ConnectionsServer
) -> None:
    live = ClaimState(owner="req-holder", lease_until_ms=time.time_ns() // 1_000_000 + 600_000)
    assert services.store.write_claim("shard/test/0", live.encode(), None, FAR_S) is not None

    with pytest.raises(PartBusy):
        handle(_shard(["a"]), Deadline(DEADLINE_MARGIN_MS + 100), services)
    assert connections_server.delivered_to() == []


def test_a_push_whose_continuation_is_refused_raises_and_its_retry_posts_only_the_rest(
    services: Services, connections_server: ConnectionsServer
) -> None:
    ids = [f"c{i:02d}" for i in range(40)]
    add_connections(services, ids)
    services.config = replace(services.config, shard_size=0)
    services.executor = fanout_pool(1)  # one lane: the deadline stops it after exactly `budget` posts
    services.invoker = RefusingInvoker()
    event = {"Records": [sns_record("pushed")]}

    @dataclass
    class DeadlineAfter:
        """The deadline nears once `budget` posts were answered."""

        budget: int
        aws_request_id: str = "req-push"

        def get_remaining_time_in_millis(self) -> int:
            return 60_000 if len(connections_server.delivered_to()) < self.budget else DEADLINE_MARGIN_MS // 2

    with pytest.raises(PushFailed, match="DeliveryIncomplete"):
        handle(event, DeadlineAfter(15), services)
    assert len(connections_server.delivered_to()) == 15

    handle(event, DeadlineAfter(1_000), services)  # the retry, with time enough

    assert _counts(connections_server) == Counter(dict.fromkeys(ids, 1))


def test_a_continuation_whose_own_continuation_is_refused_raises(
    services: Services, connections_server: ConnectionsServer
) -> None:
    services.invoker = RefusingInvoker()
    event = json.loads(Continuation(b"x", ("a", "b"), None, "req-origin", 1, "continuation/test/1-0").to_event())

    with pytest.raises(DeliveryIncomplete, match="2 of 2 recipients"):
        handle(event, Deadline(DEADLINE_MARGIN_MS // 2), services)
    assert services.invoker.refused == 1


def test_an_sns_notification_delivered_twice_is_pushed_once(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"])
    event = {"Records": [sns_record("once", message_id="11111111-2222-3333-4444-555555555555")]}

    first = handle(event, FakeContext("req-first"), services)
    second = handle(event, FakeContext("req-second"), services)  # SNS is at-least-once: a new invocation

    assert (first["delivered"], second["delivered"], second["duplicates"]) == (1, 0, 1)
    assert _counts(connections_server) == Counter({"a": 1, "b": 1})


def test_a_push_published_twice_under_one_idempotency_key_reaches_each_recipient_once(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"])

    results = [
        invoke(services, {"Records": [sns_record("order 42", {"idempotencyKey": "order-42"})]}),
        invoke(services, {"Records": [sns_record("order 42", {"idempotencyKey": "order-42"})]}),
        invoke(services, {"Records": [sns_record("order 43", {"idempotencyKey": "order-43"})]}),
    ]

    assert [(r["delivered"], r["duplicates"]) for r in results] == [(1, 0), (0, 1), (1, 0)]
    assert connections_server.frames("a") == connections_server.frames("b") == ["order 42", "order 43"]


def test_a_key_used_again_after_its_window_is_a_new_push_whose_shards_are_named_anew(
    services: Services, connections_server: ConnectionsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"c{i}" for i in range(5)]
    add_connections(services, ids, rooms={"lobby": ids})
    services.config = replace(services.config, shard_size=2)
    services.invoker = InlineInvoker(services)
    monkeypatch.setattr(push, "IDEMPOTENCY_WINDOW_S", 0)  # every earlier delivery is past its window

    for _ in range(2):
        invoke(services, {"Records": [sns_record("daily", {"idempotencyKey": "daily", "room": "lobby"})]})

    assert _counts(connections_server) == Counter(dict.fromkeys(ids, 2))


def test_a_retried_room_push_keeps_one_history_entry(services: Services, connections_server: ConnectionsServer) -> None:
    add_connections(services, ["a"], rooms={"lobby": ["a"]})
    event = {"Records": [sns_record("kept once", {"room": "lobby"})]}
    services.invoker = RefusingInvoker()
    services.config = replace(services.config, shard_size=0)
    with pytest.raises(PushFailed):
        handle(event, Deadline(DEADLINE_MARGIN_MS // 2), services)  # no time to post: continuation refused

    handle(event, Deadline(60_000), services)

    entries, more = services.store.history("lobby", "", 10, 10)
    assert ([e.data for e in entries], more) == ([b"kept once"], False)
    assert _counts(connections_server) == Counter({"a": 1})


def test_a_retried_push_to_everyone_splits_into_the_segments_its_first_attempt_chose(
    services: Services, connections_server: ConnectionsServer
) -> None:
    ids = [f"c{i:03d}" for i in range(30)]
    add_connections(services, ids)
    services.config = replace(services.config, shard_size=10)
    invoker = QueueingInvoker()
    services.invoker = invoker
    event = {"Records": [sns_record("everyone")]}
    token = f"push/sns/{event['Records'][0]['Sns']['MessageId']}"
    # The first attempt chose 5 segments, then died before it could start them.
    first = ClaimState(owner="req-dead", lease_until_ms=1, facts={"segments": 5})
    assert services.store.write_claim(token, first.encode(), None, FAR_S) is not None

    handle(event, FakeContext("req-retry"), services)

    assert {(e["segment"]["segments"], e["segment"]["segment"]) for e in invoker.events} == {(5, k) for k in range(5)}
    for segment in invoker.events:
        handle(segment, FakeContext("req-segment"), services)
    assert _counts(connections_server) == Counter(dict.fromkeys(ids, 1))


def test_a_segment_delivered_twice_lists_and_posts_once(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b", "c"])
    event = json.loads(SegmentShard(0, 1, b"seg", "req-origin", None, "segment/test/0-of-1").to_event())

    handle(event, FakeContext("req-one"), services)
    again = handle(event, FakeContext("req-two"), services)

    assert again == {"statusCode": 200, "claimed": False}
    assert _counts(connections_server) == Counter({"a": 1, "b": 1, "c": 1})


def test_an_asynchronous_event_that_fails_raises_while_a_websocket_event_answers_500_and_an_error_frame(
    services: Services, connections_server: ConnectionsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_connections(services, ["a"])

    def broken(*args: object, **kwargs: object) -> Any:
        raise OSError("the store is unreachable")

    monkeypatch.setattr(services.store, "read_claim", broken)
    monkeypatch.setattr(services.store, "connection_ids", broken)

    with pytest.raises(OSError):
        invoke(services, _shard(["a"]))
    with pytest.raises(OSError):
        invoke(services, json.loads(SegmentShard(0, 1, b"x", "o", None, "segment/t/0-of-1").to_event()))
    with pytest.raises(OSError):
        invoke(services, json.loads(Continuation(b"x", ("a",), None, "o", 1, "continuation/t/1-0").to_event()))
    with pytest.raises(PushFailed):
        invoke(services, {"Records": [sns_record("x")]})
    answer = invoke(services, message_event("a", {"action": "broadcast", "message": "hi"}))

    assert answer["statusCode"] == 500
    assert connections_server.frames("a") == [
        {"type": "error", "code": "internal_error", "error": "the server failed; try again"}
    ]


def test_a_configuration_error_at_a_cold_start_raises_for_a_push_and_answers_500_to_a_connect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app, "_services", None)
    monkeypatch.setenv("CONNECTIONS_BUCKET", "b")
    monkeypatch.setenv("CONNECTIONS_URL", "http://127.0.0.1:1/live")
    monkeypatch.setenv("SHARD_SIZE", "many")

    with pytest.raises(ConfigError, match="SHARD_SIZE"):
        handler({"Records": [sns_record("x")]}, FakeContext())
    with pytest.raises(ConfigError):
        handler(json.loads(Shard(0, b"x", ("a",), None, "o", "shard/t/0").to_event()), FakeContext())
    assert handler(connect_event("c1"), FakeContext()) == {"statusCode": 500}
    assert app._services is None, "the next invocation reads the configuration again"
