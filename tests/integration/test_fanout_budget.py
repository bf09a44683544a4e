"""The per-sender fan-out budget end to end (`util local up --auth jwt --fanout-budget ...`): real clients, the
real handler, the stack's issuer. A user's connections share one budget; another user's is its own.

The budget is tiny (0.01 posts a second, a burst of 1): a full budget admits one fan-out of any size and then
stays in debt for minutes, so what is refused does not depend on how fast this machine runs the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from .conftest import REPO_ROOT, EventLog, open_socket, recv_json, run, running_stack, stack_settings
from .test_identity import JwtStack

pytestmark = pytest.mark.stack

BUDGET_PER_S = 0.01


@pytest.fixture(scope="module")
def budget_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtStack]:
    log = EventLog(tmp_path_factory.mktemp("budget") / "events.jsonl")
    settings = stack_settings(
        handler="tests.integration.handlers.recording.handler",
        code_dir=REPO_ROOT,
        auth="jwt",
        fanout_budget_per_s=BUDGET_PER_S,
        function_environment={"EVENT_LOG": str(log.path)},
    )
    with running_stack(settings) as thread:
        yield JwtStack(thread, log)


async def next_of_type(socket: ClientConnection, kind: str) -> dict[str, Any]:
    """The socket's next frame of type `kind`, skipping presence frames and the like (each read is bounded)."""
    while True:
        frame: dict[str, Any] = await recv_json(socket)
        if frame["type"] == kind:
            return frame


def test_a_users_second_connection_is_refused_once_its_first_spent_the_users_budget(budget_stack: JwtStack) -> None:
    async def body() -> None:
        url = budget_stack.url
        alice_1 = await open_socket(url(budget_stack.token("alice-id")))
        alice_2 = await open_socket(url(budget_stack.token("alice-id")))
        bob = await open_socket(url(budget_stack.token("bob-id")))
        carol = await open_socket(url(budget_stack.token("carol-id")))
        try:
            # A join into an empty room costs nothing; a later join costs a presence frame per member already in.
            for socket in (alice_1, alice_2, bob):
                await socket.send(json.dumps({"action": "join", "room": "r"}))
                await next_of_type(socket, "joined")
            # alice_2's join spent alice's budget (one presence frame, to alice_1): her other connection is refused.
            await alice_1.send(json.dumps({"action": "broadcast", "room": "r", "message": "from alice", "echo": False}))
            refused = await next_of_type(alice_1, "error")
            assert refused["code"] == "rate_limited"
            assert "your user may cause 0.01 posts a second" in refused["error"]
            # Carol (not a member: sending to a room needs none) has a full budget of her own.
            await carol.send(json.dumps({"action": "broadcast", "room": "r", "message": "from carol", "echo": False}))
            got = await next_of_type(bob, "message")
            assert (got["message"], got["from"]["userId"]) == ("from carol", "carol-id")
        finally:
            for socket in (alice_1, alice_2, bob, carol):
                await socket.close()

    run(body())
