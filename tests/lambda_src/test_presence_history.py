"""Presence and history through the handler (issue 17): ids on room messages, history pages, members, presence
frames on join, leave and disconnect, the size cap, retention by the clock, and who may read."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lambda_src.protocol.identity import Identity
from lambda_src.protocol.message_ids import is_id, time_ms
from lambda_src.services import Services

from .conftest import add_connections, disconnect_event, invoke, message_event, sns_record
from .connections_server import ConnectionsServer

NOW_MS = 1_700_000_000_000


def say(services: Services, sender: str, room: str, message: Any) -> None:
    body = {"action": "broadcast", "room": room, "message": message, "echo": False}
    assert invoke(services, message_event(sender, body)) == {"statusCode": 200}


def ask(services: Services, server: ConnectionsServer, sender: str, body: dict[str, Any]) -> dict[str, Any]:
    server.reset()
    invoke(services, message_event(sender, body))
    frames = server.frames(sender)
    assert len(frames) == 1, frames
    return dict(frames[0])


def test_a_room_message_carries_a_sortable_id_and_history_returns_the_frames_as_delivered(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"], rooms={"r": ["a", "b"]})
    for n in range(3):
        say(services, "a", "r", {"n": n})
    delivered = connections_server.frames("b")

    reply = ask(services, connections_server, "b", {"action": "history", "room": "r"})

    assert [frame["message"] for frame in delivered] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert all(is_id(frame["id"]) and time_ms(frame["id"]) == NOW_MS for frame in delivered)
    assert [frame["id"] for frame in delivered] == sorted(frame["id"] for frame in delivered)
    assert reply == {
        "type": "history",
        "room": "r",
        "messages": [{"id": frame["id"], "frame": frame} for frame in delivered],
        "next": None,
    }


def test_history_after_an_id_returns_exactly_the_later_messages_and_pages_by_limit(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"], rooms={"r": ["a", "b"]})
    for n in range(5):
        say(services, "a", "r", n)
    ids = [frame["id"] for frame in connections_server.frames("b")]

    first = ask(services, connections_server, "b", {"action": "history", "room": "r", "after": ids[0], "limit": 2})
    rest = ask(services, connections_server, "b", {"action": "history", "room": "r", "after": first["next"]})

    assert [m["frame"]["message"] for m in first["messages"]] == [1, 2]
    assert first["next"] == ids[2]
    assert [m["frame"]["message"] for m in rest["messages"]] == [3, 4]
    assert rest["next"] is None


def test_a_push_to_a_room_stays_verbatim_and_its_id_travels_in_history(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a"], rooms={"r": ["a"]})
    records = [sns_record('{"price": 1.50}', {"room": "r"}), sns_record("plain text", {"room": "r"}, "sns-2")]
    invoke(services, {"Records": records})
    raw = [data for cid, data in connections_server.posts if cid == "a"]

    reply = ask(services, connections_server, "a", {"action": "history", "room": "r"})

    assert raw == [b'{"price": 1.50}', b"plain text"]
    assert [set(m) for m in reply["messages"]] == [{"id", "frame"}, {"id", "text"}]
    assert reply["messages"][0]["frame"] == {"price": 1.50}
    assert reply["messages"][1]["text"] == "plain text"
    assert all(is_id(m["id"]) for m in reply["messages"])


def test_history_ends_at_its_retention_by_the_services_clock(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"], rooms={"r": ["a", "b"]})
    say(services, "a", "r", "old")
    retention_ms = services.config.history_retention_hours * 3_600_000

    services.clock_ms = lambda: NOW_MS + retention_ms - 1
    kept = ask(services, connections_server, "b", {"action": "history", "room": "r"})
    services.clock_ms = lambda: NOW_MS + retention_ms + 1
    expired = ask(services, connections_server, "b", {"action": "history", "room": "r"})

    assert [m["frame"]["message"] for m in kept["messages"]] == ["old"]
    assert expired["messages"] == []


def test_history_keeps_only_the_newest_history_size_messages(
    services: Services, connections_server: ConnectionsServer
) -> None:
    services.config = replace(services.config, history_size=3)
    add_connections(services, ["a", "b"], rooms={"r": ["a", "b"]})
    for n in range(5):
        say(services, "a", "r", n)

    reply = ask(services, connections_server, "b", {"action": "history", "room": "r"})

    assert [m["frame"]["message"] for m in reply["messages"]] == [2, 3, 4]


def test_history_off_keeps_nothing_and_says_so(services: Services, connections_server: ConnectionsServer) -> None:
    services.config = replace(services.config, history_size=0)
    add_connections(services, ["a", "b"], rooms={"r": ["a", "b"]})
    say(services, "a", "r", "x")
    assert is_id(connections_server.frames("b")[0]["id"])  # ids do not depend on history

    reply = ask(services, connections_server, "b", {"action": "history", "room": "r"})

    assert reply["type"] == "error" and reply["code"] == "history_disabled"


@pytest.mark.parametrize(
    "fields",
    [
        {"after": "not-an-id"},
        {"after": 5},
        {"after": "01hf7ycmk09sd36ez55gmkapv2"},
        {"limit": 0},
        {"limit": 101},
        {"limit": "10"},
        {"limit": True},
        {"limit": 2.5},
    ],
)
def test_bad_after_or_limit_values_get_invalid_field(
    services: Services, connections_server: ConnectionsServer, fields: dict[str, Any]
) -> None:
    add_connections(services, ["a"], rooms={"r": ["a"]})

    reply = ask(services, connections_server, "a", {"action": "history", "room": "r", **fields})

    assert reply["type"] == "error" and reply["code"] == "invalid_field"


@pytest.mark.parametrize("after", [5, "", "x" * 129, "\ud800"])
def test_a_bad_members_cursor_gets_invalid_field(
    services: Services, connections_server: ConnectionsServer, after: object
) -> None:
    add_connections(services, ["a"], rooms={"r": ["a"]})

    reply = ask(services, connections_server, "a", {"action": "members", "room": "r", "after": after})

    assert reply["type"] == "error" and reply["code"] == "invalid_field"


@pytest.mark.parametrize("action", ["history", "members"])
def test_a_non_member_may_read_neither_history_nor_members(
    services: Services, connections_server: ConnectionsServer, action: str
) -> None:
    add_connections(services, ["a", "outsider"], rooms={"r": ["a"]})
    say(services, "a", "r", "secret")

    reply = ask(services, connections_server, "outsider", {"action": action, "room": "r"})

    assert reply == {"type": "error", "code": "not_in_room", "error": "join room 'r' to read its history and members"}


def test_with_identity_a_rooms_claim_naming_the_room_allows_reading_and_one_without_it_forbids(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "reader"], rooms={"r": ["a"]})
    say(services, "a", "r", "hello")

    def as_identity(rooms: tuple[str, ...]) -> dict[str, Any]:
        event = message_event("reader", {"action": "history", "room": "r"})
        event["requestContext"]["authorizer"] = {"principalId": "u1", **Identity("u1", "Reader", rooms).to_context()}
        connections_server.reset()
        invoke(services, event)
        return dict(connections_server.frames("reader")[0])

    assert [m["frame"]["message"] for m in as_identity(("r*",))["messages"]] == ["hello"]
    assert as_identity(("other",))["code"] == "forbidden"


def test_members_lists_the_room_with_names_and_join_times(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b"])
    invoke(services, message_event("a", {"action": "join", "room": "r"}))
    invoke(services, message_event("b", {"action": "join", "room": "r"}))

    reply = ask(services, connections_server, "a", {"action": "members", "room": "r"})
    first = ask(services, connections_server, "a", {"action": "members", "room": "r", "limit": 1})
    second = ask(services, connections_server, "a", {"action": "members", "room": "r", "after": first["next"]})

    assert reply == {
        "type": "members",
        "room": "r",
        "members": [
            {"connectionId": "a", "name": "name-a", "joinedAt": NOW_MS},
            {"connectionId": "b", "name": "name-b", "joinedAt": NOW_MS},
        ],
        "next": None,
    }
    assert [m["connectionId"] for m in first["members"] + second["members"]] == ["a", "b"]


def test_join_leave_and_disconnect_send_presence_frames_to_the_other_members(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b", "c"])
    invoke(services, message_event("a", {"action": "join", "room": "r"}))
    invoke(services, message_event("b", {"action": "join", "room": "r"}))
    invoke(services, message_event("c", {"action": "join", "room": "r"}))
    invoke(services, message_event("c", {"action": "leave", "room": "r"}))
    invoke(services, disconnect_event("b"))

    presence = [f for f in connections_server.frames("a") if f.get("type") == "presence"]

    assert presence == [
        {
            "type": "presence",
            "room": "r",
            "event": "join",
            "member": {"connectionId": "b", "name": "name-b", "joinedAt": NOW_MS},
            "count": 2,
        },
        {
            "type": "presence",
            "room": "r",
            "event": "join",
            "member": {"connectionId": "c", "name": "name-c", "joinedAt": NOW_MS},
            "count": 3,
        },
        {
            "type": "presence",
            "room": "r",
            "event": "leave",
            "member": {"connectionId": "c", "name": "name-c"},
            "count": 2,
        },
        {
            "type": "presence",
            "room": "r",
            "event": "leave",
            "member": {"connectionId": "b", "name": "name-b"},
            "count": 1,
        },
    ]
    assert not any(f.get("type") == "presence" for f in connections_server.frames("c")[-1:])


def test_above_the_size_cap_presence_frames_carry_only_the_count(
    services: Services, connections_server: ConnectionsServer
) -> None:
    services.config = replace(services.config, presence_max_members=2)
    add_connections(services, ["a", "b", "c"])
    for cid in ("a", "b", "c"):
        invoke(services, message_event(cid, {"action": "join", "room": "r"}))

    presence = [f for f in connections_server.frames("a") if f.get("type") == "presence"]

    assert presence == [
        {
            "type": "presence",
            "room": "r",
            "event": "join",
            "member": {"connectionId": "b", "name": "name-b", "joinedAt": NOW_MS},
            "count": 2,
        },
        {"type": "presence", "room": "r", "event": "join", "count": 3},
    ]
