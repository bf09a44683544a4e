"""Every kind of bad client input gets exactly one error frame with a stable code, to the sender only."""

from __future__ import annotations

from typing import Any

import pytest

from lambda_src.protocol import MAX_MESSAGE_BYTES
from lambda_src.s3_store import S3ConnectionStore
from lambda_src.services import Services

from .conftest import add_connections, invoke, message_event
from .connections_server import ConnectionsServer

SENDER = "sender"
OTHERS = ["other-1", "other-2"]

BAD_INPUTS: list[tuple[str, Any, str | None, str]] = [
    # (case, body, route key or None for API Gateway's selection, expected code)
    ("not json", "hello there", "$default", "invalid_json"),
    ("empty frame", "", "$default", "invalid_json"),
    ("json but not an object", "[1, 2, 3]", "$default", "invalid_json"),
    ("no action", {"message": "hi"}, None, "unknown_action"),
    ("unknown action", {"action": "shout", "message": "hi"}, None, "unknown_action"),
    ("action of wrong type", {"action": 42}, None, "unknown_action"),
    ("broadcast without message", {"action": "broadcast"}, None, "invalid_field"),
    ("broadcast echo not a bool", {"action": "broadcast", "message": 1, "echo": "no"}, None, "invalid_field"),
    ("broadcast room not a string", {"action": "broadcast", "message": 1, "room": 7}, None, "invalid_room"),
    ("broadcast bad room name", {"action": "broadcast", "message": 1, "room": "a/b"}, None, "invalid_room"),
    ("broadcast over 128 KB", {"action": "broadcast", "message": "x" * MAX_MESSAGE_BYTES}, None, "message_too_large"),
    ("send without to", {"action": "send", "message": "hi"}, None, "invalid_field"),
    ("send to not a string", {"action": "send", "to": ["x"], "message": "hi"}, None, "invalid_field"),
    ("send without message", {"action": "send", "to": "other-1"}, None, "invalid_field"),
    ("send to unknown id", {"action": "send", "to": "nobody", "message": "hi"}, None, "not_found"),
    ("send to gone id", {"action": "send", "to": "other-gone", "message": "hi"}, None, "not_found"),
    ("join without room", {"action": "join"}, None, "invalid_field"),
    ("join room too long", {"action": "join", "room": "r" * 65}, None, "invalid_room"),
    ("join empty room", {"action": "join", "room": ""}, None, "invalid_room"),
    ("leave room not joined", {"action": "leave", "room": "lobby"}, None, "not_in_room"),
    ("deeply nested json", "[" * 50_000 + "]" * 50_000, "$default", "invalid_json"),
    (
        "integer too long to parse",
        '{"action": "broadcast", "message": ' + "9" * 5000 + "}",
        "broadcast",
        "invalid_json",
    ),
]


@pytest.mark.parametrize(("case", "body", "route_key", "code"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_one_error_frame_to_the_sender_only(
    services: Services,
    connections_server: ConnectionsServer,
    case: str,
    body: Any,
    route_key: str | None,
    code: str,
) -> None:
    add_connections(services, [SENDER, *OTHERS, "other-gone"])
    connections_server.gone = {"other-gone"}

    result = invoke(services, message_event(SENDER, body, route_key))

    assert result == {"statusCode": 400}
    frames = connections_server.frames(SENDER)
    assert len(frames) == 1, frames
    assert frames[0]["type"] == "error"
    assert frames[0]["code"] == code
    assert isinstance(frames[0]["error"], str) and "\n" not in frames[0]["error"]
    assert connections_server.delivered_to() == [SENDER], "nobody else may receive anything"


def test_unknown_action_error_names_every_valid_action(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, [SENDER])

    invoke(services, message_event(SENDER, {"action": "shout"}))

    (frame,) = connections_server.frames(SENDER)
    for action in ("broadcast", "send", "whoami", "join", "leave"):
        assert action in frame["error"]


def test_send_to_a_gone_id_prunes_it(services: Services, connections_server: ConnectionsServer) -> None:
    add_connections(services, [SENDER, "other-gone"])
    connections_server.gone = {"other-gone"}

    invoke(services, message_event(SENDER, {"action": "send", "to": "other-gone", "message": "hi"}))

    assert services.store.get("other-gone") is None


def test_store_failure_fails_the_invocation_cleanly_with_an_error_frame(
    services: Services, connections_server: ConnectionsServer, moto_endpoint: str
) -> None:
    import boto3

    add_connections(services, [SENDER])
    services.store = S3ConnectionStore(boto3.client("s3", endpoint_url=moto_endpoint), "no-such-bucket")

    result = invoke(services, message_event(SENDER, {"action": "broadcast", "message": "hi"}))

    assert result == {"statusCode": 500}
    assert [f["code"] for f in connections_server.frames(SENDER)] == ["internal_error"]
