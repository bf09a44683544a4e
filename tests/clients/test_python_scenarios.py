"""The Python client against the real local stack, one test per scenario of clients/scenarios.json.

One in-process stack for the module, configured as the file's `stack` says (a connect token, an idle timeout of
3 s, a maximum duration of 8 s), so every test here also lives through keepalives and rollovers. Every wait is
for an event (a state change, a message), bounded; counts are exact, by message id against the room's history.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest

from tests.integration.conftest import stack_settings
from tests.stack_harness import running_stack
from util.local.stack import StackThread
from wspush_client import (
    Backoff,
    Client,
    ConnectionOpened,
    Limits,
    Message,
    RecoveryIncomplete,
    State,
    StateChange,
    Unauthorized,
)

from .scenarios import CLIENT_LIMITS, SCENARIOS, STACK

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]

TOKEN = f"cli-{secrets.token_urlsafe(18)}"
"""Random: finding it in an error text can only mean it leaked."""
TEST_TIMEOUT_S = 60.0
EVENT_TIMEOUT_S = 15.0
EXAMPLE_TIMEOUT_S = 60.0
REPO_ROOT = Path(__file__).resolve().parents[2]
QUICK = Backoff(base_s=0.2, cap_s=0.5)
"""For the tests that close a client several times: the default schedule would only make them slower."""
T = TypeVar("T")
_rooms = itertools.count(1)


def scenario(name: str) -> dict[str, Any]:
    return SCENARIOS[name]


@pytest.fixture(scope="module")
def stack() -> Iterator[StackThread]:
    settings = stack_settings(
        handler="lambda_src.app.handler",
        code_dir=None,
        workers=3,
        auth=STACK["auth"],
        token=TOKEN,
        idle_timeout_s=float(STACK["idle_timeout_s"]),
        max_duration_s=float(STACK["max_duration_s"]),
        message_rate_per_s=float(STACK["message_rate_per_s"]),
        message_burst=int(STACK["message_burst"]),
        function_environment={"HISTORY_SIZE": str(STACK["history_size"])},
    )
    with running_stack(settings) as thread:
        yield thread


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, TEST_TIMEOUT_S))


def limits(**overrides: Any) -> Limits:
    return Limits(
        idle_timeout_s=float(CLIENT_LIMITS["idle_timeout_s"]),
        max_duration_s=float(CLIENT_LIMITS["max_duration_s"]),
        **overrides,
    )


def new_client(
    stack: StackThread, name: str, token: Callable[[], str | Awaitable[str]] | None = None, **options: Any
) -> Client:
    return Client(stack.outputs["websocket_url"], name=name, token=token or (lambda: TOKEN), **options)


def new_room() -> str:
    return f"room-{next(_rooms)}-{secrets.token_hex(3)}"


def kick(stack: StackThread, connection_id: str) -> None:
    """DELETE @connections/{id}, as `util kick` does: the server closes the connection (1000). A client kicked
    during its own rollover just finishes it (no reconnect): the kick tests' clients do not roll over
    (`limits(rollover=False)`); the server's maximum duration then closes them (1001), another reconnect."""
    api = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=stack.outputs["connections_url"],
        region_name="us-east-1",
        **stack.credentials.client_kwargs(),
    )
    api.delete_connection(ConnectionId=connection_id)


class Recorder:
    """Everything one client delivered, and its state changes, with events to wait on."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.messages: list[Message] = []
        self.incomplete: list[RecoveryIncomplete] = []
        self.states: list[StateChange] = []
        self.changed = asyncio.Event()
        client.on(Message, self._message)
        client.on(RecoveryIncomplete, self.incomplete.append)
        client.on(StateChange, self._state)
        client.on(ConnectionOpened, self._opened)
        self.opened: list[ConnectionOpened] = []

    def _opened(self, opened: ConnectionOpened) -> None:
        self.opened.append(opened)
        self.changed.set()

    def _message(self, message: Message) -> None:
        self.messages.append(message)
        self.changed.set()

    def _state(self, change: StateChange) -> None:
        self.states.append(change)
        self.changed.set()

    def seqs(self, room: str) -> list[int]:
        return [m.message["seq"] for m in self.messages if m.room == room]

    def ids(self, room: str) -> list[str]:
        return [m.id for m in self.messages if m.room == room and m.id is not None]

    async def until(self, condition: Callable[[], bool], what: str, timeout_s: float = EVENT_TIMEOUT_S) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                while not condition():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}: {self.summary()}") from None

    async def until_messages(self, room: str, count: int) -> None:
        await self.until(lambda: len(self.seqs(room)) >= count, f"{count} messages in {room}")

    async def until_reconnects(self, count: int) -> None:
        await self.until(lambda: self.visited().count(State.RECONNECTING) >= count, f"{count} reconnects")

    def summary(self) -> str:
        seqs = sorted(m.message["seq"] for m in self.messages if isinstance(m.message, dict) and "seq" in m.message)
        missing = sorted(set(range(max(seqs, default=0) + 1)) - set(seqs))
        return (
            f"{len(seqs)} messages, missing seqs {missing[:20]}, states {[c.state.value for c in self.states]}, "
            f"connections {[o.kind for o in self.opened]}, incomplete {self.incomplete}"
        )

    def visited(self) -> list[State]:
        return [change.state for change in self.states]


async def publish(
    publisher: Client, room: str, count: int, rate_per_s: float, start: int = 0, sent: asyncio.Queue[int] | None = None
) -> int:
    """Broadcast `{"seq": n}` to `room` at `rate_per_s`, waiting out reconnects (each seq sent goes to `sent`)."""
    for seq in range(start, start + count):
        if publisher.state != State.OPEN:
            await publisher.wait_for(State.OPEN, EVENT_TIMEOUT_S)
        await publisher.broadcast({"seq": seq}, room=room, echo=False)
        if sent is not None:
            sent.put_nowait(seq)
        await asyncio.sleep(1 / rate_per_s)
    return count


async def until_sent(sent: asyncio.Queue[int], seq: int) -> None:
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while await sent.get() < seq:
            pass


async def room_history_ids(stack: StackThread, room: str) -> list[str]:
    """The room's whole history, read by a fresh client: the ground truth of what the room got."""
    async with new_client(stack, "reader", limits=limits()) as reader:
        await reader.join(room)
        ids: list[str] = []
        after = None
        while True:
            page = await reader.history(room, after=after)
            ids.extend(entry.id for entry in page.messages)
            if page.next is None:
                return ids
            after = page.next


async def settled_history(stack: StackThread, room: str, seen: Recorder) -> list[str]:
    """The room's history once the subscriber has exactly its ids (frames still queued at the gateway when the
    publisher's connection closed may be run, and kept, after the publisher is done): read again at each message
    the subscriber gets, else every second, bounded; the last read when they never agree."""
    history: list[str] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                history = await room_history_ids(stack, room)
                if sorted(set(seen.ids(room))) == sorted(history):
                    return history
                seen.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(seen.changed.wait(), 1.0)
    return history


def assert_each_once(delivered: list[str], expected: list[str]) -> None:
    counts = collections.Counter(delivered)
    assert [i for i, n in counts.items() if n > 1] == [], "delivered twice"
    assert sorted(delivered) == sorted(expected), (
        f"missing {sorted(set(expected) - set(delivered))[:5]}, extra {sorted(set(delivered) - set(expected))[:5]}"
    )


def test_reconnect_after_server_close_delivers_every_room_message_once(stack: StackThread) -> None:
    spec = scenario("reconnect_after_server_close")

    async def main() -> None:
        room = new_room()
        async with (
            new_client(stack, "sub", limits=limits(rollover=False)) as subscriber,
            new_client(stack, "pub", limits=limits()) as publisher,
        ):
            seen = Recorder(subscriber)
            await subscriber.join(room)
            sending = asyncio.create_task(publish(publisher, room, spec["messages"], spec["rate_per_s"]))
            await seen.until(lambda: len(seen.seqs(room)) >= spec["kick_after"], "the first messages")
            assert subscriber.connection_id is not None
            kick(stack, subscriber.connection_id)
            await seen.until(lambda: State.RECONNECTING in seen.visited(), "reconnecting")
            await subscriber.wait_for(State.OPEN, EVENT_TIMEOUT_S)
            await sending
            await seen.until(lambda: len(seen.seqs(room)) >= spec["messages"], "every message")
            history = await room_history_ids(stack, room)
        assert len(history) == spec["messages"]
        assert_each_once(seen.ids(room), history)
        assert sorted(seen.seqs(room)) == list(range(spec["messages"]))
        assert seen.incomplete == []

    run(main())


def test_messages_sent_while_disconnected_are_recovered_in_order_before_live_ones(stack: StackThread) -> None:
    spec = scenario("recovery_of_messages_sent_while_disconnected")
    held = Backoff(base_s=spec["backoff_s"], cap_s=spec["backoff_s"], random=lambda: 1.0)

    async def main() -> None:
        room = new_room()
        async with (
            new_client(stack, "sub", limits=limits(rollover=False), backoff=held) as subscriber,
            new_client(stack, "pub", limits=limits()) as publisher,
        ):
            seen = Recorder(subscriber)
            await subscriber.join(room)
            await publish(publisher, room, 1, 20)  # one live message: the cursor recovery starts from
            await seen.until(lambda: len(seen.seqs(room)) == 1, "the live message")
            assert subscriber.connection_id is not None
            kick(stack, subscriber.connection_id)
            await seen.until(lambda: State.RECONNECTING in seen.visited(), "reconnecting")
            await publish(publisher, room, spec["messages"], 20, start=1)
            assert subscriber.state == State.RECONNECTING, "the backoff should still hold the reconnect"
            await subscriber.wait_for(State.OPEN, EVENT_TIMEOUT_S)
            await publish(publisher, room, 1, 20, start=1 + spec["messages"])  # live after the reconnect
            await seen.until(lambda: len(seen.seqs(room)) == spec["messages"] + 2, "recovered and live messages")
            history = await room_history_ids(stack, room)
        room_messages = [m for m in seen.messages if m.room == room]
        assert [m.message["seq"] for m in room_messages] == list(range(spec["messages"] + 2))
        assert [m.recovered for m in room_messages] == [False] + [True] * spec["messages"] + [False]
        assert_each_once(seen.ids(room), history)
        assert seen.incomplete == []

    run(main())


def test_an_idle_client_without_keepalive_is_closed_by_the_idle_timeout_and_recovers(stack: StackThread) -> None:
    spec = scenario("reconnect_after_idle_timeout")

    async def main() -> None:
        room = new_room()
        async with (
            new_client(stack, "idle", limits=limits(keepalive=False, rollover=False)) as idle,
            new_client(stack, "pub", limits=limits()) as publisher,
        ):
            seen = Recorder(idle)
            await idle.join(room)
            await seen.until(lambda: State.RECONNECTING in seen.visited(), "the idle timeout")
            await publish(publisher, room, spec["messages"], 20)
            await idle.wait_for(State.OPEN, EVENT_TIMEOUT_S)
            await seen.until(lambda: len(seen.seqs(room)) == spec["messages"], "the recovered message")
        reconnecting = next(change for change in seen.states if change.state == State.RECONNECTING)
        assert "code 1001" in reconnecting.reason
        assert seen.seqs(room) == list(range(spec["messages"]))

    run(main())


def test_keepalive_messages_hold_a_silent_connection_past_the_idle_timeout(stack: StackThread) -> None:
    spec = scenario("keepalive_inside_idle_timeout")
    assert spec["hold_s"] > 1.5 * STACK["idle_timeout_s"]

    async def main() -> None:
        async with new_client(stack, "quiet", limits=limits(rollover=False)) as quiet:
            seen = Recorder(quiet)
            first_id = quiet.connection_id
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(spec["hold_s"]):
                    await seen.until(lambda: bool(seen.states), "no state change", timeout_s=spec["hold_s"] + 1)
            assert seen.states == []
            assert quiet.connection_id == first_id
            assert quiet.connections == 1

    run(main())


def test_rollover_before_max_duration_loses_and_doubles_nothing_at_10_messages_a_second(stack: StackThread) -> None:
    spec = scenario("rollover_before_max_duration")

    async def main() -> None:
        room = new_room()
        async with (
            new_client(stack, "sub", limits=limits()) as subscriber,
            new_client(stack, "pub", limits=limits()) as publisher,
        ):
            seen = Recorder(subscriber)
            published = Recorder(publisher)
            await subscriber.join(room)
            await publish(publisher, room, spec["messages"], spec["rate_per_s"])
            await publisher.close()  # close() waits until the server took every frame sent
            history = await settled_history(stack, room, seen)
        assert [o.kind for o in seen.opened][:1] == ["rollover"], "the subscriber should have rolled over"
        assert State.RECONNECTING not in seen.visited(), seen.summary()
        assert_each_once(seen.ids(room), history)
        assert State.RECONNECTING not in published.visited(), (
            f"the publisher's connection closed before its rollover drained it: {published.summary()}"
        )
        assert len(history) == spec["messages"]
        assert sorted(seen.seqs(room)) == list(range(spec["messages"]))

    run(main())


def test_three_server_closes_in_a_row_deliver_every_id_exactly_once(stack: StackThread) -> None:
    spec = scenario("no_duplicates")

    async def main() -> None:
        room = new_room()
        async with (
            new_client(stack, "sub", limits=limits(rollover=False), backoff=QUICK) as subscriber,
            new_client(stack, "pub", limits=limits()) as publisher,
        ):
            seen = Recorder(subscriber)
            await subscriber.join(room)
            sending = asyncio.create_task(publish(publisher, room, spec["messages"], spec["rate_per_s"]))
            for kicked in range(1, spec["kicks"] + 1):
                await seen.until_messages(room, 12 * kicked)
                await subscriber.wait_for(State.OPEN, EVENT_TIMEOUT_S)
                assert subscriber.connection_id is not None
                kick(stack, subscriber.connection_id)
                await seen.until_reconnects(kicked)
            await sending
            await seen.until(lambda: len(seen.seqs(room)) >= spec["messages"], "every message")
            history = await room_history_ids(stack, room)
        assert len(history) == spec["messages"]
        assert_each_once(seen.ids(room), history)

    run(main())


def test_a_refused_token_fails_connect_with_unauthorized_and_no_retry(stack: StackThread) -> None:
    spec = scenario("refused_token")
    wrong = f"wrong-{secrets.token_urlsafe(12)}"
    calls = []

    def token() -> str:
        calls.append(1)
        return wrong

    async def main() -> None:
        client = new_client(stack, "intruder", token=token, limits=limits())
        with pytest.raises(Unauthorized) as refused:
            await client.connect()
        assert refused.value.status == spec["status"]
        assert wrong not in str(refused.value) and TOKEN not in str(refused.value)
        assert client.state == State.CLOSED
        assert len(calls) == 1

    run(main())


def test_a_token_revoked_before_a_reconnect_stops_the_client_with_unauthorized(stack: StackThread) -> None:
    scenario("refused_token_on_reconnect")
    tokens = iter([TOKEN, "revoked"])

    async def main() -> None:
        client = new_client(stack, "revoked", token=lambda: next(tokens), limits=limits())
        await client.connect()
        seen = Recorder(client)
        assert client.connection_id is not None
        kick(stack, client.connection_id)
        await seen.until(lambda: State.CLOSED in seen.visited(), "closed")
        assert isinstance(client.error, Unauthorized)
        assert seen.visited() == [State.RECONNECTING, State.CLOSED]
        with pytest.raises(Unauthorized):
            async for _ in client:
                pass
        await client.close()

    run(main())


def test_the_token_callable_is_called_for_every_connection(stack: StackThread) -> None:
    scenario("token_refresh_on_reconnect")
    issued: list[str] = []

    async def token() -> str:
        issued.append(TOKEN)
        return TOKEN

    async def main() -> None:
        async with new_client(stack, "fresh", token=token, limits=limits()) as client:
            seen = Recorder(client)
            assert client.connection_id is not None
            kick(stack, client.connection_id)
            await seen.until(lambda: seen.visited() == [State.RECONNECTING, State.OPEN], "reconnected")
            await seen.until(
                lambda: [o.kind for o in seen.opened] == ["reconnect", "rollover"],
                "a rollover",
                timeout_s=STACK["max_duration_s"] + 5,
            )
            assert len(issued) == client.connections

    run(main())


def test_a_publisher_closed_twice_while_sending_loses_nothing_the_room_kept(stack: StackThread) -> None:
    spec = scenario("publisher_keeps_sending_throughout")

    async def main() -> None:
        room = new_room()
        sent: asyncio.Queue[int] = asyncio.Queue()
        async with (
            new_client(stack, "sub", limits=limits()) as subscriber,
            new_client(stack, "pub", limits=limits(rollover=False), backoff=QUICK) as publisher,
        ):
            seen = Recorder(subscriber)
            published = Recorder(publisher)
            await subscriber.join(room)
            sending = asyncio.create_task(publish(publisher, room, spec["messages"], spec["rate_per_s"], sent=sent))
            for kicked in range(1, spec["publisher_kicks"] + 1):
                await until_sent(sent, 12 * kicked)
                await publisher.wait_for(State.OPEN, EVENT_TIMEOUT_S)
                assert publisher.connection_id is not None
                kick(stack, publisher.connection_id)
                await published.until_reconnects(kicked)
            assert await sending == spec["messages"]
            await publisher.close()
            history = await settled_history(stack, room, seen)
        # What the gateway had queued but not yet run when it closed the publisher is gone (the protocol has no
        # acknowledgement of a broadcast): the subscriber must have exactly what the room kept.
        assert len(history) > 2 * 12 - 2
        assert_each_once(seen.ids(room), history)

    run(main())


@pytest.fixture(scope="module")
def small_history_stack() -> Iterator[StackThread]:
    """A second stack that keeps only a few messages a room (and the API's own idle timeout and duration)."""
    spec = SCENARIOS["recovery_incomplete_after_history_trimmed"]
    settings = stack_settings(
        handler="lambda_src.app.handler",
        code_dir=None,
        workers=2,
        auth=STACK["auth"],
        token=TOKEN,
        message_rate_per_s=float(STACK["message_rate_per_s"]),
        message_burst=int(STACK["message_burst"]),
        function_environment={"HISTORY_SIZE": str(spec["history_size"])},
    )
    with running_stack(settings) as thread:
        yield thread


def test_a_recovery_past_what_the_history_keeps_is_reported_incomplete_before_the_kept_messages(
    small_history_stack: StackThread,
) -> None:
    spec = scenario("recovery_incomplete_after_history_trimmed")
    held = Backoff(base_s=spec["backoff_s"], cap_s=spec["backoff_s"], random=lambda: 1.0)
    stack = small_history_stack

    async def main() -> None:
        room = new_room()
        events: list[Message | RecoveryIncomplete] = []
        async with (
            new_client(stack, "sub", backoff=held) as subscriber,
            new_client(stack, "pub") as publisher,
        ):
            seen = Recorder(subscriber)
            subscriber.on(Message, events.append)
            subscriber.on(RecoveryIncomplete, events.append)
            await subscriber.join(room)
            await publish(publisher, room, 1, 20)
            await seen.until_messages(room, 1)
            last_seen = seen.ids(room)[-1]
            assert subscriber.connection_id is not None
            kick(stack, subscriber.connection_id)
            await seen.until_reconnects(1)
            await publish(publisher, room, spec["messages"], 20, start=1)
            await publisher.whoami()  # every broadcast taken (one connection's frames run in order)
            assert subscriber.state == State.RECONNECTING, "the backoff should still hold the reconnect"
            await subscriber.wait_for(State.OPEN, EVENT_TIMEOUT_S)
            kept = spec["history_size"]
            await seen.until_messages(room, 1 + kept)
            history = await room_history_ids(stack, room)
        assert len(history) == kept
        assert isinstance(events[1], RecoveryIncomplete)
        assert (events[1].room, events[1].last_id, events[1].reason) == (room, last_seen, "trimmed")
        assert events[1].first_id == history[0]
        recovered = events[2:]
        assert all(isinstance(m, Message) and m.recovered for m in recovered)
        assert [m.id for m in recovered if isinstance(m, Message)] == history
        assert seen.seqs(room) == [0, *range(1 + spec["messages"] - kept, 1 + spec["messages"])]
        assert len(seen.incomplete) == 1

    run(main())


def test_the_example_of_docs_clients_md_runs_against_the_local_stack(stack: StackThread, tmp_path: Path) -> None:
    doc = (REPO_ROOT / "docs" / "clients.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", doc, re.DOTALL)
    assert match is not None, "docs/clients.md has no Python example"
    program = tmp_path / "example.py"
    program.write_text(match.group(1), encoding="utf-8")
    env = {**os.environ, "WSPUSH_URL": stack.outputs["websocket_url"], "WSPUSH_TOKEN": TOKEN}
    result = subprocess.run(
        [sys.executable, str(program)], env=env, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "state: open" in result.stdout
    assert re.search(r"^ada said \{'text': 'hello'\} as [0-9A-Z]{26}$", result.stdout, re.MULTILINE), result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_every_scenario_of_the_shared_file_has_a_test_here() -> None:
    # Read from this file's source, so that the check holds whichever tests a run selects.
    implemented = set(re.findall(r'scenario\("([a-z_]+)"\)', Path(__file__).read_text(encoding="utf-8")))
    assert implemented == set(SCENARIOS)
