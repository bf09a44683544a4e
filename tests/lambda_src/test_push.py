"""Pushes from SNS: every record delivered verbatim, attributes narrowing the recipients."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from lambda_src.app import handler
from lambda_src.errors import PushFailed, StoreError
from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.services import Services
from lambda_src.store.contract import ConnectionStore
from lambda_src.store.s3 import S3ConnectionStore
from tests.conftest import free_port

from .conftest import FakeContext, add_connections, invoke, sns_record
from .connections_server import ConnectionsServer


def _raw(server: ConnectionsServer) -> dict[str, list[bytes]]:
    delivered: dict[str, list[bytes]] = {}
    for cid, data in server.posts:
        delivered.setdefault(cid, []).append(data)
    return delivered


def test_three_records_each_delivered_verbatim_to_the_right_recipients(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b", "c"], rooms={"lobby": ["b"]})
    json_text = '{"price":  1.50, "sym": "ACME"}'
    event = {
        "Records": [
            sns_record(json_text, message_id="1"),
            sns_record("plain text, not JSON", message_id="2"),
            sns_record('{"only": "lobby"}', {"room": "lobby"}, message_id="3"),
        ]
    }

    result = invoke(services, event)

    assert result == {"statusCode": 200, "records": 3, "delivered": 3, "refused": 0, "duplicates": 0}
    everyone = [json_text.encode(), b"plain text, not JSON"]
    assert _raw(connections_server) == {"a": everyone, "c": everyone, "b": [*everyone, b'{"only": "lobby"}']}


def test_connection_id_attribute_targets_one_connection(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"])

    invoke(services, {"Records": [sns_record("for b", {"connectionId": "b"})]})

    assert _raw(connections_server) == {"b": [b"for b"]}


def test_bad_record_is_logged_and_dropped_not_retried_and_the_others_delivered(
    services: Services, connections_server: ConnectionsServer, caplog: pytest.LogCaptureFixture
) -> None:
    add_connections(services, ["a"])
    event = {
        "Records": [
            sns_record("x" * (MAX_MESSAGE_BYTES + 1), message_id="big"),
            sns_record("to a bad room", {"room": "no/such"}, message_id="bad-room"),
            {"EventSource": "aws:sqs", "body": "not sns"},
            sns_record("fine", message_id="ok"),
        ]
    }

    caplog.set_level(logging.INFO, logger="wspush")

    result = invoke(services, event)  # returns: a retry of an invalid record would fail the same way

    assert result == {"statusCode": 200, "records": 3, "delivered": 1, "refused": 2, "duplicates": 0}
    assert _raw(connections_server) == {"a": [b"fine"]}
    refusals = [(r.getMessage(), r.__dict__["snsMessageId"]) for r in caplog.records if r.levelno == logging.ERROR]
    assert refusals == [("push refused: message too large", "big"), ("push refused: bad room attribute", "bad-room")]


def test_unknown_events_are_answered_not_raised(services: Services, connections_server: ConnectionsServer) -> None:
    events: list[object] = [
        None,
        [],
        "text",
        {},
        {"Records": "no"},
        {"requestContext": {"eventType": "CONNECT"}},
        {"requestContext": {"connectionId": "a", "eventType": "WHAT"}},
    ]
    for event in events:
        assert invoke(services, event) == {"statusCode": 400}
    assert connections_server.posts == []


def _push_failures(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.getMessage(), r.__dict__["snsMessageId"]) for r in caplog.records if r.getMessage() == "push failed"]


def test_push_with_the_store_bucket_gone_raises_so_lambda_retries_it(
    services: Services, connections_server: ConnectionsServer, moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    services.store = S3ConnectionStore(boto3.client("s3", endpoint_url=moto_endpoint), "no-such-bucket")

    with pytest.raises(PushFailed, match="1 of 1 records failed: NoSuchBucket"):
        invoke(services, {"Records": [sns_record("lost?", message_id="p1")]})

    assert _push_failures(caplog) == [("push failed", "p1")]
    failure = next(r for r in caplog.records if r.getMessage() == "push failed")
    assert failure.levelno == logging.ERROR and failure.exc_info is not None
    assert [r.getMessage() for r in caplog.records if r.getMessage() == "invocation failed"] == []
    assert connections_server.posts == []


def test_push_with_the_store_endpoint_unreachable_raises_so_lambda_retries_it(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    closed = f"http://127.0.0.1:{free_port()}"
    s3 = boto3.client("s3", endpoint_url=closed, config=BotoConfig(retries={"mode": "standard", "max_attempts": 1}))
    services.store = S3ConnectionStore(s3, "connections")

    with pytest.raises(PushFailed, match="EndpointConnectionError"):
        invoke(services, {"Records": [sns_record("lost?", {"room": "lobby"}, message_id="p2")]})

    assert _push_failures(caplog) == [("push failed", "p2")]


class RoomListingFails:
    """The store, but listing one room's members fails (as a store that stops answering mid-event would)."""

    def __init__(self, store: ConnectionStore, room: str) -> None:
        self._store = store
        self._room = room

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def room_members(self, room: str) -> Iterator[str]:
        if room == self._room:
            raise StoreError(f"listing {room} failed")
        return self._store.room_members(room)


def test_a_failing_record_does_not_stop_the_others_and_still_fails_the_invocation(
    services: Services, connections_server: ConnectionsServer, moto_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wspush")
    services.store = RoomListingFails(services.store, "broken")
    event = {
        "Records": [
            sns_record("to a room whose listing fails", {"room": "broken"}, message_id="fails"),
            sns_record("to one connection", {"connectionId": "a"}, message_id="ok"),
        ]
    }

    with pytest.raises(PushFailed, match="1 of 2 records failed: StoreError"):
        invoke(services, event)

    assert _raw(connections_server) == {"a": [b"to one connection"]}
    assert _push_failures(caplog) == [("push failed", "fails")]


def test_the_lambda_entry_point_raises_a_failed_push(
    services: Services, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through `handler` itself, as Lambda calls it: an error, which is what makes an async invocation retry."""
    import lambda_src.app as app

    services.store = S3ConnectionStore(boto3.client("s3", endpoint_url=moto_endpoint), "no-such-bucket")
    monkeypatch.setattr(app, "_services", services)

    with pytest.raises(PushFailed):
        handler({"Records": [sns_record("lost?")]}, FakeContext())
