"""`util connect` after an automatic reconnect (issue 17): it rejoins its room and prints, marked as recovered and
in order, exactly the messages said there while it was away; `/members` and `/history` send their actions."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests import strict_json
from tests.stack_harness import LocalUp
from util.frame_output import RECOVERED_PREFIX

from .conftest import ClientStarter, UtilRunner
from .connect_client import WAIT_S

pytestmark = [pytest.mark.stack, pytest.mark.timeout(180)]


@pytest.fixture
def alice(local_up: LocalUp) -> Iterator[ClientConnection]:
    with connect(f"{local_up.outputs['websocket_url']}?name=alice", open_timeout=WAIT_S) as socket:
        yield socket


def ask(socket: ClientConnection, body: dict[str, Any]) -> None:
    socket.send(json.dumps(body))


def next_of_type(socket: ClientConnection, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = strict_json.loads(socket.recv(timeout=WAIT_S))
        if frame.get("type") == kind:
            return frame


def test_util_connect_recovers_the_missed_messages_after_its_reconnect(
    connect: ClientStarter, util: UtilRunner, alice: ClientConnection
) -> None:
    bob = connect("--name", "bob", "--send", "/join r", "--timeout", "120")
    bob.wait_connected()
    assert bob.next_json_frame() == {"type": "joined", "room": "r"}
    ask(alice, {"action": "join", "room": "r"})
    next_of_type(alice, "joined")
    ask(alice, {"action": "broadcast", "room": "r", "message": "before", "echo": False})
    assert bob.next_json_frame()["type"] == "presence"
    assert bob.next_json_frame()["message"] == "before"
    ask(alice, {"action": "members", "room": "r"})
    bob_id = next(m for m in next_of_type(alice, "members")["members"] if m["name"] == "bob")["connectionId"]

    # Bob's process is stopped while his connection is closed and the room talks on: what he misses is certain.
    bob.process.send_signal(signal.SIGSTOP)
    try:
        assert util("kick", bob_id).code == 0
        assert next_of_type(alice, "presence")["event"] == "leave"
        sent = []
        for n in range(5):
            ask(alice, {"action": "broadcast", "room": "r", "message": n})
            sent.append(next_of_type(alice, "message"))
    finally:
        bob.process.send_signal(signal.SIGCONT)

    assert bob.next_json_frame(timeout_s=30) == {"type": "joined", "room": "r"}
    recovered = [bob.next_line() for _ in range(5)]

    assert all(line.startswith(RECOVERED_PREFIX) for line in recovered), recovered
    assert [strict_json.loads(line.removeprefix(RECOVERED_PREFIX)) for line in recovered] == sent


def test_members_and_history_commands_send_their_actions(connect: ClientStarter) -> None:
    client = connect(
        "--send", "/join lobby2", "--send", "/members lobby2", "--send", "/history lobby2", "--listen", "3"
    )

    frames = client.finish().json_frames()

    assert frames[0] == {"type": "joined", "room": "lobby2"}
    assert frames[1]["type"] == "members" and [m["name"] for m in frames[1]["members"]] == ["anonymous"]
    assert frames[2] == {"type": "history", "room": "lobby2", "messages": [], "next": None}
