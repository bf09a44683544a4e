"""The connect token: without it nobody connects, nothing is stored for the refused, and no log line holds it."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests import strict_json

from .clients import RECEIVE_TIMEOUT_S, client_url, close_clients, open_clients, run, sync_all
from .conftest import TOKEN, require_empty_store
from .moto_state import log_lines, now_ms, stored_connection_ids
from .stack_process import StackProcess

pytestmark = pytest.mark.timeout(120)

TEST_TIMEOUT_S = 60.0


def refused_urls(websocket_url: str) -> dict[str, str]:
    return {
        "no token": client_url(websocket_url, "mallory"),
        "wrong token": client_url(websocket_url, "mallory", TOKEN[:-1] + ("x" if TOKEN[-1] != "x" else "y")),
        "empty token": client_url(websocket_url, "mallory", ""),
        "token's prefix": client_url(websocket_url, "mallory", TOKEN[:-4]),
        "token plus more": client_url(websocket_url, "mallory", TOKEN + "0"),
        "token in another parameter": f"{websocket_url}?name=mallory&Token={TOKEN}",
    }


async def refusal_status(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, open_timeout=RECEIVE_TIMEOUT_S, additional_headers=headers)
    response = refused.value.response
    return response.status_code, bytes(response.body or b"")


def test_handshakes_without_the_right_token_get_401_and_store_nothing(stack: StackProcess) -> None:
    require_empty_store(stack)
    started_ms = now_ms()
    urls = refused_urls(stack.websocket_url)

    async def main() -> dict[str, tuple[int, bytes]]:
        answers = {reason: await refusal_status(url) for reason, url in urls.items()}
        # A bearer header is not how the token travels: refused like no token at all.
        answers["token as a bearer header"] = await refusal_status(
            client_url(stack.websocket_url, "mallory"), {"Authorization": f"Bearer {TOKEN}"}
        )
        return answers

    answers = run(main(), TEST_TIMEOUT_S)

    for reason, (status, body) in answers.items():
        assert status == 401, reason
        assert strict_json.loads(body) == {
            "type": "error",
            "code": "unauthorized",
            "error": "a valid token is required",
        }
    assert stored_connection_ids(stack.outputs) == set()
    access = [json.loads(line) for line in log_lines(stack.outputs, "api_log_group", started_ms)]
    assert Counter((e["eventType"], e["status"]) for e in access) == {("CONNECT", 401): len(answers)}


def test_the_token_appears_in_no_line_of_either_log_group(stack: StackProcess) -> None:
    """Everything this stack logged in the session (the other tests' traffic too), after traffic of every kind."""
    require_empty_store(stack)

    async def main() -> None:
        for url in refused_urls(stack.websocket_url).values():
            await refusal_status(url)
        clients = await open_clients(stack.websocket_url, 2, "token", TOKEN)
        try:
            await clients[0].socket.send(json.dumps({"action": "broadcast", "message": "hello"}))
            await clients[0].socket.send(json.dumps({"action": "nope", "token": TOKEN}))
            await clients[0].socket.send("not json")
            await sync_all(clients)
        finally:
            await close_clients(clients)

    run(main(), TEST_TIMEOUT_S)
    require_empty_store(stack)  # the `$disconnect`s ran, and logged

    secret = TOKEN.removeprefix("rel-")[:12]
    for group in ("lambda_log_group", "api_log_group"):
        lines = log_lines(stack.outputs, group)
        assert len(lines) > 20, group
        assert [line for line in lines if secret in line] == [], group
    assert secret not in stack.log()
