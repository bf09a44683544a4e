"""The page in a real Chromium against the local stack: chat, rooms, direct messages, errors, reconnects.

Every page speaks to the real handler (`lambda_src`) through the gateway emulator, exactly as a browser
speaks to API Gateway; the other party is another page or `util connect`.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from playwright.sync_api import expect

from tests import strict_json
from tests.util_e2e.connect_client import ConnectClient
from tests.util_e2e.local_up import util_environment
from util.local.stack import StackThread

from .conftest import CLOCK, PageOpener

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.timeout(180)]


def management(stack: StackThread) -> Any:
    """The stack's `@connections` API, SigV4-signed by boto3 as the Lambda signs its calls."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name="us-east-1",
        **stack.credentials.client_kwargs(),
    )


def test_two_pages_chat_in_a_room(open_page: PageOpener) -> None:
    alice, bob = open_page("alice"), open_page("bob")
    alice_id = alice.locator("#my-id").input_value()
    for page in (alice, bob):
        page.join("lobby")
        page.expect_in_room("lobby")

    alice.say("hello lobby", target="room:lobby")

    for page in (alice, bob):
        entry = page.entries("message").filter(has_text="hello lobby")
        expect(entry).to_have_count(1)
        expect(entry.locator(".room")).to_have_text("#lobby")
        expect(entry.locator("button.sender")).to_have_text("alice")
        expect(entry.locator("button.sender")).to_have_attribute("data-connection-id", alice_id)
    bob.say("hi alice", target="room:lobby")
    expect(alice.entries("message").filter(has_text="hi alice").locator("button.sender")).to_have_text("bob")


def test_leaving_a_room_stops_its_messages(open_page: PageOpener) -> None:
    alice, bob = open_page("alice"), open_page("bob")
    for page in (alice, bob):
        page.join("quiet")
        page.expect_in_room("quiet")

    bob.locator("#rooms button.leave").click()
    expect(bob.locator("#rooms li")).to_have_count(0)
    expect(bob.entries("system").filter(has_text="left #quiet")).to_have_count(1)
    alice.say("anyone?", target="room:quiet")
    alice.say("everyone!")

    # Bob gets the broadcast to everyone, which alice sent after the room message: the room's is not coming.
    expect(bob.entries("message").filter(has_text="everyone!")).to_have_count(1)
    expect(bob.entries("message").filter(has_text="anyone?")).to_have_count(0)


def test_a_page_and_util_connect_chat(open_page: PageOpener, stack: StackThread, tmp_path: Any) -> None:
    page = open_page("browser-user")
    hello = json.dumps({"action": "broadcast", "message": "hi from the terminal"})
    client = ConnectClient(
        util_environment(tmp_path / "no-state.json"),
        (
            "--url",
            stack.outputs["websocket_url"],
            "--name",
            "terminal",
            "--send",
            hello,
            "--listen",
            "2",
            "--timeout",
            "20",
        ),
    )
    try:
        entry = page.entries("message").filter(has_text="hi from the terminal")
        expect(entry.locator("button.sender")).to_have_text("terminal")
        page.say("hi from the browser")
        finished = client.finish()
    finally:
        client.close()

    assert finished.code == 0, finished.stderr
    received = finished.json_frames()
    assert [(frame["from"]["name"], frame["message"]) for frame in received] == [
        ("terminal", "hi from the terminal"),
        ("browser-user", "hi from the browser"),
    ]


def test_direct_message_by_pasted_id_and_reply_by_clicking_the_sender(open_page: PageOpener) -> None:
    alice, bob, carol = open_page("alice"), open_page("bob"), open_page("carol")
    bob_id = bob.locator("#my-id").input_value()

    alice.say("psst, bob", target="direct", to=bob_id)

    direct = bob.entries("direct").filter(has_text="psst, bob")
    expect(direct).to_have_count(1)
    expect(alice.entries("sent").filter(has_text="psst, bob")).to_contain_text(f"to {bob_id}")
    # Clicking the sender's name addresses a direct message to them.
    direct.locator("button.sender").click()
    expect(bob.locator("#target")).to_have_value("direct")
    expect(bob.locator("#to")).to_have_value(alice.locator("#my-id").input_value())
    expect(bob.locator("#message")).to_be_focused()
    bob.page.fill("#message", "hi alice, just you")
    bob.page.press("#message", "Enter")
    expect(alice.entries("direct").filter(has_text="hi alice, just you")).to_have_count(1)
    # Carol proves she is connected and hears broadcasts, but got neither direct message.
    alice.say("for everyone")
    expect(carol.entries("message").filter(has_text="for everyone")).to_have_count(1)
    expect(carol.locator("#messages")).not_to_contain_text("psst")
    expect(carol.locator("#messages")).not_to_contain_text("just you")


def test_direct_message_to_a_gone_connection_shows_the_error_frame(open_page: PageOpener) -> None:
    alice = open_page("alice")

    alice.say("hello?", target="direct", to="NoSuchConnId=")

    error = alice.entries("error")
    expect(error).to_have_count(1)
    expect(error.locator(".code")).to_have_text("not_found")


def test_bad_input_gets_a_readable_error(open_page: PageOpener) -> None:
    page = open_page("alice")

    page.join("not a room!")
    page.locator("#raw-input").fill("this is not JSON")
    page.locator("#raw-send").click()

    errors = page.entries("error")
    expect(errors).to_have_count(2)
    expect(page.raw_entries("in")).to_have_count(3)  # whoami, then the two error frames
    frames = [strict_json.loads(entry.locator("pre").inner_text()) for entry in page.raw_entries("in").all()[1:]]
    assert [(frame["type"], frame["code"]) for frame in frames] == [
        ("error", "invalid_room"),
        ("error", "invalid_json"),
    ]
    for entry, frame in zip(errors.all(), frames, strict=True):
        # The code and the server's one-line explanation, as words on the page, not as JSON.
        expect(entry.locator(".code")).to_have_text(frame["code"])
        expect(entry.locator(".text")).to_have_text(frame["error"])
        expect(entry).to_contain_text("Error")
    expect(errors.nth(1).locator(".text")).to_have_text("the message is not valid JSON")
    expect(page.locator("#rooms li")).to_have_count(0)


def test_raw_pane_shows_every_frame_as_pretty_json_with_its_time_and_sends_any_json(open_page: PageOpener) -> None:
    page = open_page("dev")
    connection_id = page.locator("#my-id").input_value()
    frame = {"action": "broadcast", "message": {"nested": [1, 2, {"deep": True}]}, "echo": True}

    page.locator("#raw-input").fill(json.dumps(frame))
    page.locator("#raw-input").press("Control+Enter")

    # The connect's own whoami went out first, then this frame; each reply came in.
    outgoing = page.raw_entries("out")
    expect(outgoing).to_have_count(2)
    expect(outgoing.nth(1).locator("pre")).to_have_text(json.dumps(frame, indent=2))
    incoming = page.raw_entries("in")
    expect(incoming).to_have_count(2)
    expect(incoming.nth(0).locator("pre")).to_have_text(
        json.dumps({"type": "whoami", "connectionId": connection_id, "name": "dev"}, indent=2)
    )
    echoed = strict_json.loads(incoming.nth(1).locator("pre").inner_text())
    assert echoed["type"] == "message"
    assert echoed["message"] == frame["message"]
    assert echoed["from"] == {"connectionId": connection_id, "name": "dev"}
    for entry in (*outgoing.all(), *incoming.all()):
        assert CLOCK.fullmatch(entry.locator("time").inner_text())
    expect(page.entries("message")).to_contain_text('{"nested":[1,2,{"deep":true}]}')

    page.locator("#raw-clear").click()
    expect(page.locator("#raw-log li")).to_have_count(0)


def test_broadcast_without_echo_is_shown_as_sent_and_not_received(open_page: PageOpener) -> None:
    alice, bob = open_page("alice"), open_page("bob")

    alice.say("not back to me", echo=False)

    expect(bob.entries("message").filter(has_text="not back to me")).to_have_count(1)
    expect(alice.entries("sent").filter(has_text="not back to me")).to_contain_text("not echoed")
    alice.say("back to me")
    expect(alice.entries("message").filter(has_text="back to me")).to_have_count(1)
    expect(alice.entries("message").filter(has_text="not back to me")).to_have_count(0)


def test_page_reconnects_after_the_stack_drops_its_connection_and_rejoins_its_rooms(
    open_page: PageOpener, stack: StackThread
) -> None:
    alice, bob = open_page("alice"), open_page("bob")
    old_id = alice.locator("#my-id").input_value()
    for page in (alice, bob):
        page.join("lobby")
        page.expect_in_room("lobby")
    bob.say("before the drop", target="room:lobby")
    expect(alice.entries("message").filter(has_text="before the drop")).to_have_count(1)

    management(stack).delete_connection(ConnectionId=old_id)

    closed = alice.entries("system").filter(has_text="connection closed (1000 Connection deleted)")
    expect(closed).to_have_count(1)
    expect(closed).to_contain_text("reconnecting in")
    new_id = alice.wait_connected()
    assert new_id != old_id
    # The page saw a message in the room, so it asks the room's history for what came after it: nothing here.
    expect(alice.entries("system").filter(has_text="asking for the messages missed meanwhile")).to_have_count(1)
    expect(alice.entries("system").filter(has_text="joined #lobby")).to_have_count(2)
    # Only room members get this: alice has it because the page joined the room again as its new connection.
    bob.say("welcome back", target="room:lobby")
    expect(alice.entries("message").filter(has_text="welcome back")).to_have_count(1)
    expect(alice.entries("message").filter(has_text="before the drop")).to_have_count(1)


def test_a_refused_connection_is_reported_and_not_retried(open_page: PageOpener, stack: StackThread) -> None:
    page = open_page()
    unreachable = stack.outputs["websocket_url"].rsplit("/", 1)[0] + "/no-such-stage"

    page.connect("alice", url=unreachable)

    expect(page.state).to_have_attribute("data-state", "failed")
    expect(page.state).to_contain_text("could not connect")
    expect(page.locator("#connect")).to_have_text("Connect")
    expect(page.locator("#disconnect")).to_be_disabled()


def test_disconnect_closes_for_good(open_page: PageOpener) -> None:
    page = open_page("alice")

    page.locator("#disconnect").click()

    expect(page.state).to_have_attribute("data-state", "disconnected")
    expect(page.locator("#identity")).to_be_hidden()
    page.say("into the void")
    expect(page.entries("system").filter(has_text="not connected: connect first")).to_have_count(1)
