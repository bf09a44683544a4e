"""`util send-data` pushes through the running local stack's SNS topic to `util connect` clients, verbatim."""

from __future__ import annotations

import json
import re

import pytest

from tests import strict_json

from .conftest import ClientStarter, UtilRunner
from .connect_client import CLIENT_TIMEOUT_S

pytestmark = pytest.mark.timeout(120)

LISTEN_FOR = ("--timeout", str(CLIENT_TIMEOUT_S))
SNS_MESSAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PAYLOAD = '{"hello": "world", "n": [1, 2.5, null], "nested": {"z": true, "a": "ü ✓"}}'
EVERYONE = '{"marker": "to everyone"}'


def published(util: UtilRunner, *args: str) -> str:
    """`util send-data ARGS...`; returns the MessageId it printed (its only output line)."""
    result = util("send-data", *args)
    assert result.code == 0, result
    message_id = result.stdout.strip()
    assert SNS_MESSAGE_ID.fullmatch(message_id), result.stdout
    return message_id


def test_connect_listen_1_receives_exactly_what_send_data_published(util: UtilRunner, connect: ClientStarter) -> None:
    client = connect("--listen", "1", *LISTEN_FOR)
    client.wait_connected()

    published(util, PAYLOAD)

    finished = client.finish()
    assert finished.code == 0, finished
    assert len(finished.frames) == 1, finished
    received = strict_json.loads(finished.frames[0])
    assert received == json.loads(PAYLOAD)
    # Verbatim, as far as pretty-printing lets us see: the publisher's key order survives too.
    assert json.dumps(received) == json.dumps(json.loads(PAYLOAD))


def test_send_data_raw_text_arrives_byte_for_byte(util: UtilRunner, connect: ClientStarter) -> None:
    text = "plain text, not JSON: {x} ü"
    client = connect("--listen", "1", *LISTEN_FOR)
    client.wait_connected()

    published(util, "--raw", text)

    finished = client.finish()
    assert finished.code == 0, finished
    assert finished.frames == [text]


def test_send_data_room_reaches_the_rooms_members_only(util: UtilRunner, connect: ClientStarter) -> None:
    member = connect("--name", "member", "--send", "/join lobby", "--listen", "2", *LISTEN_FOR)
    bystander = connect("--name", "bystander", "--listen", "1", *LISTEN_FOR)
    member.wait_connected()
    bystander.wait_connected()
    assert member.next_json_frame() == {"type": "joined", "room": "lobby"}

    published(util, "--room", "lobby", '{"room": "lobby only"}')
    member_finished = member.finish()
    # The member has its push, so the room's fan-out is over: had it reached the bystander, that frame
    # would come before this broadcast, seconds later.
    published(util, EVERYONE)
    bystander_finished = bystander.finish()

    assert member_finished.code == 0, member_finished
    assert member_finished.json_frames() == [{"type": "joined", "room": "lobby"}, {"room": "lobby only"}]
    assert bystander_finished.code == 0, bystander_finished
    assert bystander_finished.json_frames() == [json.loads(EVERYONE)]


def test_send_data_to_reaches_the_one_connection_named(util: UtilRunner, connect: ClientStarter) -> None:
    target = connect("--name", "target", "--send", "/whoami", "--listen", "2", *LISTEN_FOR)
    bystander = connect("--name", "bystander", "--listen", "1", *LISTEN_FOR)
    target.wait_connected()
    bystander.wait_connected()
    whoami = target.next_json_frame()
    assert whoami["type"] == "whoami" and whoami["name"] == "target", whoami

    published(util, "--to", whoami["connectionId"], '{"only": "for you"}')
    target_finished = target.finish()
    published(util, EVERYONE)
    bystander_finished = bystander.finish()

    assert target_finished.code == 0, target_finished
    assert target_finished.json_frames() == [whoami, {"only": "for you"}]
    assert bystander_finished.code == 0, bystander_finished
    assert bystander_finished.json_frames() == [json.loads(EVERYONE)]


def test_send_data_published_twice_under_one_idempotency_key_arrives_once(
    util: UtilRunner, connect: ClientStarter
) -> None:
    client = connect("--listen", "2", *LISTEN_FOR)
    client.wait_connected()

    first = published(util, "--idempotency-key", "order-42", '{"order": 42}')
    again = published(util, "--idempotency-key", "order-42", '{"order": 42}')  # a publisher's retry
    published(util, "--idempotency-key", "order-43", '{"order": 43}')

    finished = client.finish()
    assert first != again, "two SNS messages: only the key makes them one push"
    assert finished.code == 0, finished
    assert finished.json_frames() == [{"order": 42}, {"order": 43}]
