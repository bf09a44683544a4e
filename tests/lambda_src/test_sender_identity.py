"""With identity, every frame that names a sender carries its user id (`from.userId`, the token's `sub`): the one
field of `from` that the issuer controls, not the sender. Without identity there is no such field."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_src.protocol.identity import Identity
from lambda_src.services import Services

from .conftest import add_connections, disconnect_event, invoke, message_event
from .connections_server import ConnectionsServer

NOW_MS = 1_700_000_000_000
ALICE = Identity("alice-sub", "Alice")
"""Mallory can call herself "Alice" too; only the sub tells them apart."""


def as_user(event: dict[str, Any], identity: Identity) -> dict[str, Any]:
    event["requestContext"]["authorizer"] = {"principalId": identity.principal_id, **identity.to_context()}
    return event


@pytest.mark.parametrize(
    "body",
    [
        {"action": "broadcast", "message": "hi", "echo": False},
        {"action": "broadcast", "room": "r", "message": "hi", "echo": False},
        {"action": "send", "to": "b", "message": "hi"},
    ],
    ids=["broadcast to everyone", "broadcast to a room", "send"],
)
def test_a_message_of_a_user_carries_its_sub_as_from_user_id(
    services: Services, connections_server: ConnectionsServer, body: dict[str, Any]
) -> None:
    add_connections(services, ["a", "b"], rooms={"r": ["a", "b"]})

    assert invoke(services, as_user(message_event("a", body), ALICE)) == {"statusCode": 200}

    (frame,) = connections_server.frames("b")
    assert frame["from"] == {"connectionId": "a", "name": "Alice", "userId": "alice-sub"}


def test_without_identity_from_has_no_user_id(services: Services, connections_server: ConnectionsServer) -> None:
    add_connections(services, ["a", "b"])

    invoke(services, message_event("a", {"action": "send", "to": "b", "message": "hi"}))

    (frame,) = connections_server.frames("b")
    assert frame["from"] == {"connectionId": "a", "name": "name-a"}


def test_presence_frames_of_a_user_carry_its_sub_on_join_leave_and_disconnect(
    services: Services, connections_server: ConnectionsServer
) -> None:
    bob = Identity("bob-sub", "Bob")
    add_connections(services, ["a", "b"])
    invoke(services, as_user(message_event("a", {"action": "join", "room": "r"}), ALICE))
    invoke(services, as_user(message_event("b", {"action": "join", "room": "r"}), bob))
    invoke(services, as_user(message_event("b", {"action": "leave", "room": "r"}), bob))
    invoke(services, as_user(message_event("b", {"action": "join", "room": "r"}), bob))
    invoke(services, as_user(disconnect_event("b"), bob))

    members = [f["member"] for f in connections_server.frames("a") if f.get("type") == "presence"]

    assert members == [
        {"connectionId": "b", "name": "Bob", "userId": "bob-sub", "joinedAt": NOW_MS},
        {"connectionId": "b", "name": "Bob", "userId": "bob-sub"},
        {"connectionId": "b", "name": "Bob", "userId": "bob-sub", "joinedAt": NOW_MS},
        {"connectionId": "b", "name": "name-b", "userId": "bob-sub"},
    ]
