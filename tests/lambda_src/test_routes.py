"""The client actions: broadcast (echo, rooms), send, whoami, join, leave."""

from __future__ import annotations

from lambda_src.services import Services

from .conftest import add_connections, invoke, message_event
from .connections_server import ConnectionsServer

SENT_AT = 1_700_000_000_000


def test_broadcast_reaches_everyone_including_the_sender(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b", "c"])

    assert invoke(services, message_event("a", {"action": "broadcast", "message": {"n": 1}})) == {"statusCode": 200}

    expected = {
        "type": "message",
        "message": {"n": 1},
        "from": {"connectionId": "a", "name": "name-a"},
        "sentAt": SENT_AT,
    }
    for cid in ("a", "b", "c"):
        assert connections_server.frames(cid) == [expected]


def test_broadcast_skips_sender_when_echo_false(services: Services, connections_server: ConnectionsServer) -> None:
    add_connections(services, ["a", "b", "c"])

    invoke(services, message_event("a", {"action": "broadcast", "message": "hi", "echo": False}))

    assert sorted(connections_server.delivered_to()) == ["b", "c"]


def test_broadcast_to_a_room_reaches_only_its_members(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b", "c", "d"], rooms={"lobby": ["a", "b", "c"]})

    invoke(services, message_event("a", {"action": "broadcast", "message": "hi", "room": "lobby", "echo": False}))

    assert sorted(connections_server.delivered_to()) == ["b", "c"]
    assert connections_server.frames("b")[0]["room"] == "lobby"


def test_send_reaches_only_its_target_as_a_direct_message(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a", "b", "c"])

    invoke(services, message_event("a", {"action": "send", "to": "b", "message": "psst"}))

    assert connections_server.delivered_to() == ["b"]
    assert connections_server.frames("b") == [
        {"type": "direct", "message": "psst", "from": {"connectionId": "a", "name": "name-a"}, "sentAt": SENT_AT}
    ]


def test_send_to_an_id_with_a_slash_and_padding(services: Services, connections_server: ConnectionsServer) -> None:
    odd = "L0S/9cO+vHcCIhw="
    add_connections(services, ["a", odd])

    invoke(services, message_event("a", {"action": "send", "to": odd, "message": "hi"}))

    assert connections_server.delivered_to() == [odd]


def test_whoami_answers_the_callers_id_and_name(services: Services, connections_server: ConnectionsServer) -> None:
    add_connections(services, ["a", "b"])

    invoke(services, message_event("a", {"action": "whoami"}))

    assert connections_server.delivered_to() == ["a"]
    assert connections_server.frames("a") == [{"type": "whoami", "connectionId": "a", "name": "name-a"}]


def test_join_then_leave_changes_membership_and_acknowledges(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a"])

    invoke(services, message_event("a", {"action": "join", "room": "lobby"}))
    assert list(services.store.room_members("lobby")) == ["a"]
    record = services.store.get("a")
    assert record is not None and record.rooms == ("lobby",)

    invoke(services, message_event("a", {"action": "leave", "room": "lobby"}))
    assert list(services.store.room_members("lobby")) == []
    record = services.store.get("a")
    assert record is not None and record.rooms == ()

    assert connections_server.frames("a") == [{"type": "joined", "room": "lobby"}, {"type": "left", "room": "lobby"}]


def test_disconnect_removes_the_connection_and_its_rooms(
    services: Services, connections_server: ConnectionsServer
) -> None:
    from .conftest import disconnect_event

    add_connections(services, ["a", "b"], rooms={"lobby": ["a", "b"], "games": ["a"]})

    assert invoke(services, disconnect_event("a")) == {"statusCode": 200}

    assert list(services.store.connection_ids()) == ["b"]
    assert list(services.store.room_members("lobby")) == ["b"]
    assert list(services.store.room_members("games")) == []


def test_only_a_default_route_still_dispatches_by_action(
    services: Services, connections_server: ConnectionsServer
) -> None:
    add_connections(services, ["a"])

    invoke(services, message_event("a", {"action": "whoami"}, route_key="$default"))

    assert connections_server.frames("a") == [{"type": "whoami", "connectionId": "a", "name": "name-a"}]
