"""Fan-out at scale: concurrency, pruning of gone connections, retries, and isolation of failures."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import boto3
import pytest

from lambda_src.aws.posting import DELIVERED, GONE, PostResult
from lambda_src.delivery.fanout import fan_out
from lambda_src.delivery.plan import Sender
from lambda_src.delivery.pool import fanout_pool
from lambda_src.services import Services

from .conftest import add_connections, invoke, message_event, sns_record
from .connections_server import ConnectionsServer


def _fanout_summaries(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        {k: getattr(r, k) for k in ("recipients", "delivered", "gone", "failed")}
        for r in caplog.records
        if r.getMessage() == "fanout"
    ]


@pytest.fixture(autouse=True)
def _capture_service_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wspush")


def test_broadcast_to_1000_prunes_the_100_gone_and_reports_it(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"conn-{i:04d}" for i in range(1000)]
    gone = set(ids[::10])
    add_connections(services, ids, rooms={"lobby": ids[:300]})
    connections_server.gone = gone

    invoke(services, message_event("conn-0001", {"action": "broadcast", "message": "hi"}))

    assert sorted(connections_server.delivered_to()) == sorted(set(ids) - gone)
    assert sorted(services.store.connection_ids()) == sorted(set(ids) - gone)
    assert sorted(services.store.room_members("lobby")) == sorted(set(ids[:300]) - gone)
    assert _fanout_summaries(caplog) == [{"recipients": 1000, "delivered": 900, "gone": 100, "failed": 0}]


def test_broadcast_keeps_at_least_16_posts_in_flight(services: Services, connections_server: ConnectionsServer) -> None:
    ids = [f"conn-{i:03d}" for i in range(500)]
    add_connections(services, ids)
    connections_server.hold_until_in_flight = 16

    invoke(services, message_event("conn-000", {"action": "broadcast", "message": "hi"}))

    assert connections_server.max_in_flight >= 16
    assert len(connections_server.delivered_to()) == 500


def test_throttled_post_is_retried_and_delivered(services: Services, connections_server: ConnectionsServer) -> None:
    add_connections(services, ["a", "b"])
    connections_server.scripted = {"b": [429]}

    invoke(services, message_event("a", {"action": "broadcast", "message": "hi"}))

    assert connections_server.attempts["b"] == 2
    assert [f["message"] for f in connections_server.frames("b")] == ["hi"]


def test_failing_post_does_not_stop_the_other_deliveries(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [f"conn-{i}" for i in range(20)]
    add_connections(services, ids)
    connections_server.scripted = {"conn-7": [500] * 10}

    invoke(services, message_event("conn-0", {"action": "broadcast", "message": "hi"}))

    assert sorted(connections_server.delivered_to()) == sorted(set(ids) - {"conn-7"})
    assert "conn-7" in set(services.store.connection_ids()), "a failed post must not prune the connection"
    assert _fanout_summaries(caplog) == [{"recipients": 20, "delivered": 19, "gone": 0, "failed": 1}]
    failure = next(r for r in caplog.records if r.getMessage() == "post failed")
    assert (failure.__dict__["target"], failure.__dict__["error"]) == ("conn-7", "InternalServerErrorException")


def test_fanout_summary_is_one_json_log_line(
    services: Services, connections_server: ConnectionsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    add_connections(services, ["a", "b", "c"])
    connections_server.gone = {"c"}
    capsys.readouterr()

    invoke(services, message_event("a", {"action": "broadcast", "message": "hi"}))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summary = next(line for line in lines if line["message"] == "fanout")
    assert {k: summary[k] for k in ("recipients", "delivered", "gone", "failed", "level")} == {
        "recipients": 3,
        "delivered": 2,
        "gone": 1,
        "failed": 0,
        "level": "INFO",
    }
    assert summary["requestId"] == "req-test"
    assert summary["connectionId"] == "a"
    assert isinstance(summary["ms"], int)


def _bucket_taken_away_on_first_gone(bucket: str) -> Callable[[str], None]:
    """An `on_gone` hook: the first 410 empties and deletes the store's bucket, so pruning after the posts fails
    against the real store (NoSuchBucket) while every post has already been answered or is in flight."""
    s3 = boto3.client("s3")
    once = threading.Lock()
    done: list[bool] = []

    def take_away(_connection_id: str) -> None:
        with once:
            if done:
                return
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=item["Key"])
            s3.delete_bucket(Bucket=bucket)
            done.append(True)

    return take_away


def _prune_failures(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int, str]]:
    return [
        (r.levelno, r.__dict__["gone"], r.__dict__["error"]) for r in caplog.records if r.getMessage() == "prune failed"
    ]


def test_broadcast_whose_pruning_fails_after_delivery_reports_no_failure_to_the_sender(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture, bucket: str
) -> None:
    add_connections(services, ["a", "b", "c", "gone-1", "gone-2"])
    connections_server.gone = {"gone-1", "gone-2"}
    connections_server.on_gone = _bucket_taken_away_on_first_gone(bucket)

    result = invoke(services, message_event("a", {"action": "broadcast", "message": "hi"}))

    assert result == {"statusCode": 200}
    # The sender gets its echo and nothing else: an internal_error would have it retry, and everyone get it twice.
    assert [f["type"] for f in connections_server.frames("a")] == ["message"]
    assert sorted(connections_server.delivered_to()) == ["a", "b", "c"]
    assert _prune_failures(caplog) == [(logging.WARNING, 2, "NoSuchBucket")]
    assert _fanout_summaries(caplog) == [{"recipients": 5, "delivered": 3, "gone": 2, "failed": 0}]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_push_whose_pruning_fails_after_delivery_succeeds_and_is_not_retried(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture, bucket: str
) -> None:
    add_connections(services, ["a", "b", "gone-1"])
    connections_server.gone = {"gone-1"}
    connections_server.on_gone = _bucket_taken_away_on_first_gone(bucket)

    result = invoke(services, {"Records": [sns_record("pushed")]})

    assert result == {"statusCode": 200, "records": 1, "delivered": 1, "refused": 0, "duplicates": 0}
    assert sorted(connections_server.delivered_to()) == ["a", "b"]
    assert _prune_failures(caplog) == [(logging.WARNING, 1, "NoSuchBucket")]


def test_send_to_a_gone_target_whose_pruning_fails_still_answers_not_found(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture, bucket: str
) -> None:
    add_connections(services, ["a", "gone-1"])
    connections_server.gone = {"gone-1"}
    connections_server.on_gone = _bucket_taken_away_on_first_gone(bucket)

    result = invoke(services, message_event("a", {"action": "send", "to": "gone-1", "message": "hi"}))

    assert result == {"statusCode": 400}
    assert [f["code"] for f in connections_server.frames("a")] == ["not_found"]
    assert _prune_failures(caplog) == [(logging.WARNING, 1, "NoSuchBucket")]


class _CountingPoster:
    """Answers every post at once, counting posts per id and the most in flight at one time."""

    def __init__(self, gone: set[str]) -> None:
        self.gone = gone
        self.posts: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._two_in_flight = threading.Event()

    def post(self, connection_id: str, data: bytes) -> PostResult:
        with self._lock:
            self.posts[connection_id] = self.posts.get(connection_id, 0) + 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.in_flight >= 2:
                self._two_in_flight.set()
        self._two_in_flight.wait(timeout=2.0)  # the lanes do run side by side
        with self._lock:
            self.in_flight -= 1
        return GONE if connection_id in self.gone else DELIVERED


class _NoStore:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def remove(self, connection_ids: list[str], room: str | None = None) -> None:
        self.removed.extend(connection_ids)


def test_fan_out_posts_each_recipient_exactly_once_on_at_most_the_pools_threads() -> None:
    ids = [f"c{i}" for i in range(500)]
    poster = _CountingPoster(gone={"c7", "c499"})
    store = _NoStore()
    pool = fanout_pool(4)
    try:
        summary = fan_out(
            [*ids, "c3"],  # a repeated id is posted once
            b"x",
            Sender(poster, pool, store, logging.getLogger("test")),  # type: ignore[arg-type]
        )
    finally:
        pool.shutdown()

    assert poster.posts == dict.fromkeys(ids, 1)
    assert 2 <= poster.max_in_flight <= 4
    assert (summary.recipients, summary.delivered, summary.gone, summary.failed) == (500, 498, 2, 0)
    assert store.removed == ["c7", "c499"]
