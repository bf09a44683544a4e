"""Fixtures for the Lambda's tests: a fresh bucket in moto, the test `@connections` server, wired services."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from lambda_src.app import handle
from lambda_src.config import Config
from lambda_src.services import Services
from lambda_src.store.contract import Connection
from lambda_src.wiring import from_config

from .connections_server import ConnectionsServer, running_connections_server

_bucket_numbers = itertools.count()


@pytest.fixture
def connections_server() -> Iterator[ConnectionsServer]:
    with running_connections_server() as server:
        yield server


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    name = f"connections-{next(_bucket_numbers)}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def services(bucket: str, connections_server: ConnectionsServer) -> Iterator[Services]:
    # No message rate limit nor fan-out budget here: under the fixed clock below no token ever comes back, and the
    # fuzzers send hundreds of frames from one connection. Their own tests (test_rate_limit.py, test_fanout_budget.py)
    # build services with one.
    config = Config(
        connections_bucket=bucket, connections_url=connections_server.url, message_rate=None, fanout_budget=None
    )
    built = from_config(config)
    built.clock_ms = lambda: 1_700_000_000_000
    yield built
    built.executor.shutdown(wait=True)


@dataclass
class FakeContext:
    """The attributes of Lambda's context object that the handler reads."""

    aws_request_id: str = "req-test"
    function_name: str = "wspush-test-handler"


def connect_event(connection_id: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "requestContext": {
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "connectionId": connection_id,
            "requestId": f"connect-{connection_id}",
            "connectedAt": 1_700_000_000_000,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "isBase64Encoded": False,
    }
    if query is not None:
        event["queryStringParameters"] = query
    return event


def disconnect_event(connection_id: str) -> dict[str, Any]:
    return {
        "requestContext": {
            "routeKey": "$disconnect",
            "eventType": "DISCONNECT",
            "connectionId": connection_id,
            "requestId": f"disconnect-{connection_id}",
            "disconnectStatusCode": 1000,
            "disconnectReason": "bye",
        },
        "isBase64Encoded": False,
    }


def message_event(connection_id: str, body: Any, route_key: str | None = None) -> dict[str, Any]:
    """A MESSAGE event routed as API Gateway would by `$request.body.action` (unless `route_key` is given)."""
    text = body if isinstance(body, str) else json.dumps(body)
    if route_key is None:
        action = body.get("action") if isinstance(body, dict) else None
        known = isinstance(action, str) and action in {"broadcast", "send", "whoami", "join", "leave"}
        route_key = action if known else "$default"
    return {
        "requestContext": {
            "routeKey": route_key,
            "eventType": "MESSAGE",
            "connectionId": connection_id,
            "requestId": f"msg-{connection_id}",
            "messageId": "m1",
            "requestTimeEpoch": 1_700_000_000_000,
        },
        "body": text,
        "isBase64Encoded": False,
    }


def sns_record(message: str, attributes: dict[str, str] | None = None, message_id: str | None = None) -> dict[str, Any]:
    """One SNS notification as Lambda's event holds it; a fresh `MessageId` unless given (SNS gives each its own)."""
    if message_id is None:
        message_id = f"sns-{uuid.uuid4()}"
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:wspush-test-push:sub",
        "Sns": {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:wspush-test-push",
            "Subject": None,
            "Message": message,
            "Timestamp": "2026-11-22T00:00:00.000Z",
            "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in (attributes or {}).items()},
        },
    }


def invoke(services: Services, event: Any) -> dict[str, Any]:
    return handle(event, FakeContext(), services)


def add_connections(services: Services, ids: list[str], rooms: dict[str, list[str]] | None = None) -> None:
    """Store connections quickly (concurrently) and put them in rooms."""

    def add(connection_id: str) -> None:
        connection = Connection(connection_id, f"name-{connection_id}", 1_700_000_000_000, "127.0.0.1")
        services.store.add(connection)
        for room, members in (rooms or {}).items():
            if connection_id in members:
                connection = services.store.join(connection, room)

    list(services.executor.map(add, ids))
