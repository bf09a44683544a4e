"""The grant claims `broadcast` (a broadcast without `room`, to everyone) and `send` (direct messages): granted to a
token without a rooms claim unless it says false, denied to one with a rooms claim unless it says true."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_src.errors import InvalidClaims
from lambda_src.protocol.identity import Identity, from_authorizer, from_claims
from lambda_src.services import Services

from .conftest import add_connections, invoke, message_event
from .connections_server import ConnectionsServer

TO_EVERYONE = {"action": "broadcast", "message": "hi", "echo": False}
DIRECT = {"action": "send", "to": "b", "message": "hi"}


def identity(**claims: Any) -> Identity:
    return from_claims({"sub": "u1", **claims}, name_claim="name", rooms_claim="rooms")


def frames_to_b_and_a(
    services: Services, server: ConnectionsServer, who: Identity, body: dict[str, Any]
) -> tuple[list[Any], list[Any]]:
    """Connections a and b, b in room `secret`; `who` (on a) sends `body`: what b and a then got."""
    add_connections(services, ["a", "b"], rooms={"secret": ["b"]})
    event = message_event("a", body)
    # What API Gateway passes on: the authorizer's context, strings only.
    event["requestContext"]["authorizer"] = {"principalId": who.principal_id, **who.to_context()}
    invoke(services, event)
    return server.frames("b"), server.frames("a")


@pytest.mark.parametrize("body", [TO_EVERYONE, DIRECT], ids=["broadcast to everyone", "send"])
@pytest.mark.parametrize(
    "claims",
    [{"rooms": []}, {"rooms": ["lobby"]}, {"broadcast": False, "send": False}],
    ids=["empty rooms claim", "rooms claim", "unrestricted but the grants say false"],
)
def test_without_the_grant_a_room_less_broadcast_and_a_send_are_forbidden_and_reach_no_one(
    services: Services, connections_server: ConnectionsServer, body: dict[str, Any], claims: dict[str, Any]
) -> None:
    to_b, to_a = frames_to_b_and_a(services, connections_server, identity(**claims), body)

    assert to_b == []
    (refusal,) = to_a
    assert (refusal["type"], refusal["code"]) == ("error", "forbidden")


@pytest.mark.parametrize("body", [TO_EVERYONE, DIRECT], ids=["broadcast to everyone", "send"])
@pytest.mark.parametrize(
    "claims",
    [{}, {"rooms": [], "broadcast": True, "send": True}],
    ids=["unrestricted (no claims)", "rooms claim with both grants"],
)
def test_with_the_grant_a_room_less_broadcast_and_a_send_are_delivered(
    services: Services, connections_server: ConnectionsServer, body: dict[str, Any], claims: dict[str, Any]
) -> None:
    to_b, to_a = frames_to_b_and_a(services, connections_server, identity(**claims), body)

    assert [frame["message"] for frame in to_b] == ["hi"]
    assert to_a == []


def test_a_room_broadcast_needs_only_the_rooms_claim(services: Services, connections_server: ConnectionsServer) -> None:
    who = identity(rooms=["secret"], broadcast=False)

    to_b, to_a = frames_to_b_and_a(services, connections_server, who, {**TO_EVERYONE, "room": "secret"})

    assert [frame["message"] for frame in to_b] == ["hi"] and to_a == []


def test_grants_survive_the_authorizer_context_and_old_contexts_default_by_the_rooms_claim() -> None:
    granted = identity(rooms=[], broadcast=True, send=False)
    assert granted.to_context() == {"name": "u1", "rooms": "", "broadcast": "true", "send": "false"}
    assert from_authorizer({"principalId": "u1", **granted.to_context()}) == granted
    # A connection admitted before the grant claims existed has no such keys: the default applies.
    assert from_authorizer({"principalId": "u1", "name": "u1", "rooms": ""}) == Identity("u1", "u1", ())


@pytest.mark.parametrize("value", ["true", 1, "yes", ["yes"]])
def test_a_grant_claim_that_is_not_a_boolean_is_refused(value: object) -> None:
    with pytest.raises(InvalidClaims, match="must be true or false"):
        identity(broadcast=value)
    with pytest.raises(InvalidClaims, match="must be true or false"):
        identity(send=value)
