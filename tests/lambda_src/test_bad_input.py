"""Every kind of bad client input gets exactly one error frame with a stable code, to the sender only."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pytest

from lambda_src.config import DEFAULT_MAX_ROOMS_PER_CONNECTION
from lambda_src.limits import MAX_MESSAGE_BYTES
from lambda_src.services import Services
from lambda_src.store.s3 import S3ConnectionStore

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
    # Not JSON numbers (RFC 8259 section 6), though Python's json.loads takes them; a browser's JSON.parse throws.
    ("message NaN", '{"action":"broadcast","message":NaN}', "broadcast", "invalid_json"),
    ("message Infinity", '{"action":"broadcast","message":Infinity}', "broadcast", "invalid_json"),
    ("message -Infinity", '{"action":"broadcast","message":-Infinity}', "broadcast", "invalid_json"),
    ("message 1e999", '{"action":"broadcast","message":1e999}', "broadcast", "invalid_json"),
    ("message -1e999 nested", '{"action":"broadcast","message":{"a":[1,-1e999]}}', "broadcast", "invalid_json"),
    ("NaN in another field", '{"action":"send","to":"other-1","message":"hi","x":NaN}', "send", "invalid_json"),
    # A lone surrogate escape is valid JSON text but no UTF-8 frame can carry the string on. (`1e999` is JSON
    # grammar too, but reads as inf, and there is no JSON to write it back as.)
    ("message lone surrogate", '{"action":"broadcast","message":"\\ud800"}', "broadcast", "invalid_field"),
    ("message lone low surrogate", '{"action":"broadcast","message":"a\\uDFFFb"}', "broadcast", "invalid_field"),
    (
        "message surrogate deep inside",
        '{"action":"broadcast","message":{"k":[1,{"\\udabc":2}]}}',
        "broadcast",
        "invalid_field",
    ),
    ("room lone surrogate", '{"action":"join","room":"lobby\\ud800"}', "join", "invalid_field"),
    ("broadcast room surrogate", '{"action":"broadcast","message":1,"room":"\\ud800"}', "broadcast", "invalid_field"),
    ("to lone surrogate", '{"action":"send","to":"\\ud800","message":"hi"}', "send", "invalid_field"),
    ("action lone surrogate", '{"action":"\\ud800"}', "$default", "unknown_action"),
    ("raw surrogate in the body", '{"action":"broadcast","message":"\ud800"}', "broadcast", "invalid_json"),
    # Dot-only rooms are path segments to every tool that maps S3 keys to paths.
    ("join room .", {"action": "join", "room": "."}, None, "invalid_room"),
    ("join room ..", {"action": "join", "room": ".."}, None, "invalid_room"),
    ("join room ...", {"action": "join", "room": "..."}, None, "invalid_room"),
    ("broadcast to room ..", {"action": "broadcast", "message": 1, "room": ".."}, None, "invalid_room"),
    ("leave room ..", {"action": "leave", "room": ".."}, None, "invalid_room"),
]


@pytest.mark.parametrize(("case", "body", "route_key", "code"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_gets_one_error_frame_to_the_sender_only(
    services: Services,
    connections_server: ConnectionsServer,
    caplog: pytest.LogCaptureFixture,
    case: str,
    body: Any,
    route_key: str | None,
    code: str,
) -> None:
    add_connections(services, [SENDER, *OTHERS, "other-gone"])
    connections_server.gone = {"other-gone"}
    caplog.set_level(logging.INFO, logger="wspush")

    result = invoke(services, message_event(SENDER, body, route_key))

    assert result == {"statusCode": 400}
    # Bad input is the client's doing: any client could raise an ERROR line (and the alarms on it) at will.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in caplog.records if r.getMessage() == "rejected"] == ["rejected"]
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


def test_a_connection_in_the_maximum_of_rooms_is_refused_another_with_too_many_rooms(
    services: Services, connections_server: ConnectionsServer
) -> None:
    services.config = replace(services.config, max_rooms_per_connection=3)
    add_connections(services, [SENDER], rooms={f"room-{i}": [SENDER] for i in range(3)})

    result = invoke(services, message_event(SENDER, {"action": "join", "room": "room-3"}))

    assert result == {"statusCode": 400}
    (frame,) = connections_server.frames(SENDER)
    assert (frame["type"], frame["code"]) == ("error", "too_many_rooms")
    assert "at most 3 rooms" in frame["error"]
    record = services.store.get(SENDER)
    assert record is not None and record.rooms == ("room-0", "room-1", "room-2")
    assert list(services.store.room_members("room-3")) == []


def test_at_the_maximum_of_rooms_a_joined_room_can_be_joined_again_and_one_left_for_another(
    services: Services, connections_server: ConnectionsServer
) -> None:
    services.config = replace(services.config, max_rooms_per_connection=2)
    add_connections(services, [SENDER], rooms={"a": [SENDER], "b": [SENDER]})

    assert invoke(services, message_event(SENDER, {"action": "join", "room": "a"})) == {"statusCode": 200}
    assert invoke(services, message_event(SENDER, {"action": "leave", "room": "b"})) == {"statusCode": 200}
    assert invoke(services, message_event(SENDER, {"action": "join", "room": "c"})) == {"statusCode": 200}

    assert [f["type"] for f in connections_server.frames(SENDER)] == ["joined", "left", "joined"]
    record = services.store.get(SENDER)
    assert record is not None and record.rooms == ("a", "c")


def test_the_default_maximum_is_50_rooms(services: Services, connections_server: ConnectionsServer) -> None:
    assert services.config.max_rooms_per_connection == DEFAULT_MAX_ROOMS_PER_CONNECTION == 50
    add_connections(services, [SENDER], rooms={f"r{i}": [SENDER] for i in range(50)})

    invoke(services, message_event(SENDER, {"action": "join", "room": "r50"}))

    assert [f["code"] for f in connections_server.frames(SENDER)] == ["too_many_rooms"]


def test_a_lone_surrogate_or_huge_number_in_an_ignored_field_is_never_sent_on(
    services: Services, connections_server: ConnectionsServer
) -> None:
    """Fields the service does not use are not checked: they are never written into a frame."""
    add_connections(services, [SENDER, *OTHERS])
    body = '{"action":"broadcast","message":"hi","\\ud800":"\\udc00","x":1e999}'

    assert invoke(services, message_event(SENDER, body, "broadcast")) == {"statusCode": 200}

    for cid in [SENDER, *OTHERS]:
        (frame,) = connections_server.frames(cid)  # parsed strictly: a surrogate or Infinity would raise
        assert frame["message"] == "hi" and set(frame) == {"type", "message", "from", "sentAt"}
