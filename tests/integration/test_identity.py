"""Identity end to end (`util local up --auth jwt`): real WebSocket clients, the real handler, the stack's issuer.

The function is the real `lambda_src.app.handler`, wrapped to record every event it receives, so the tests
see both what clients get and what reached the function (and with which `requestContext.authorizer`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from util.local.aws.credentials import LocalCredentials
from util.local.aws.issuer import ALGORITHM, key_id, mint
from util.local.stack import StackThread

from .conftest import REPO_ROOT, EventLog, open_socket, recv_json, run, running_stack, stack_settings

pytestmark = pytest.mark.stack


class JwtStack:
    def __init__(self, thread: StackThread, events: EventLog) -> None:
        self.thread = thread
        self.events = events
        self.outputs = thread.outputs
        self.key = Path(self.outputs["local_issuer_key"]).read_bytes()

    def token(self, sub: str, *, name: str | None = None, rooms: list[str] | None = None, **claims: Any) -> str:
        return mint(
            self.key,
            issuer=self.outputs["jwt_issuer"],
            audience=self.outputs["jwt_audience"],
            subject=sub,
            name=name,
            rooms=rooms,
            ttl_s=300,
            **claims,
        )

    def url(self, token: str | None, name: str | None = None) -> str:
        query = [f"name={name}"] if name else []
        if token is not None:
            query.append(f"token={token}")
        return self.outputs["websocket_url"] + ("?" + "&".join(query) if query else "")

    def routes_seen(self) -> list[str]:
        return [event.get("requestContext", {}).get("routeKey", "?") for event in self.events.events()]

    def authorizer_calls(self) -> int:
        return sum(1 for event in self.events.events() if event.get("type") == "REQUEST")


@pytest.fixture(scope="module")
def jwt_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JwtStack]:
    log = EventLog(tmp_path_factory.mktemp("identity") / "events.jsonl")
    settings = stack_settings(
        handler="tests.integration.handlers.recording.handler",
        code_dir=REPO_ROOT,
        auth="jwt",
        function_environment={"EVENT_LOG": str(log.path)},
    )
    with running_stack(settings) as thread:
        yield JwtStack(thread, log)


async def refusal(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(url)
    return refused.value.response.status_code


async def ask(socket: ClientConnection, frame: dict[str, Any]) -> Any:
    await socket.send(json.dumps(frame))
    return await recv_json(socket)


def test_no_token_is_refused_with_401_and_the_function_never_runs(jwt_stack: JwtStack) -> None:
    before = len(jwt_stack.events.events())
    assert run(refusal(jwt_stack.url(None, name="mallory"))) == 401
    assert run(refusal(jwt_stack.url("", name="mallory"))) == 401
    assert len(jwt_stack.events.events()) == before


def _foreign_key_token(stack: JwtStack, *, same_kid: bool) -> str:
    other = ec.generate_private_key(ec.SECP256R1())
    stack_kid = json.loads(jwt.utils.base64url_decode(stack.token("x").split(".")[0]))["kid"]
    now = int(time.time())
    claims: dict[str, Any] = {"iss": stack.outputs["jwt_issuer"], "aud": stack.outputs["jwt_audience"]}
    claims |= {"sub": "mallory", "iat": now, "exp": now + 300}
    kid = stack_kid if same_kid else key_id(other.public_key())
    return jwt.encode(claims, other, algorithm=ALGORITHM, headers={"kid": kid})


def test_expired_wrongly_signed_wrong_audience_and_alg_none_tokens_are_refused(jwt_stack: JwtStack) -> None:
    now = int(time.time())
    good = jwt_stack.token("mallory")
    header, payload, _ = good.split(".")
    bad_tokens = {
        "expired": mint(
            jwt_stack.key,
            issuer=jwt_stack.outputs["jwt_issuer"],
            audience=jwt_stack.outputs["jwt_audience"],
            subject="mallory",
            name=None,
            rooms=None,
            ttl_s=60,
            now_s=now - 3600,
        ),
        "wrongly signed (the stack's kid)": _foreign_key_token(jwt_stack, same_kid=True),
        "signed by an unknown key": _foreign_key_token(jwt_stack, same_kid=False),
        "wrong audience": mint(
            jwt_stack.key,
            issuer=jwt_stack.outputs["jwt_issuer"],
            audience="someone-else",
            subject="mallory",
            name=None,
            rooms=None,
            ttl_s=300,
        ),
        "alg none": jwt.encode(json.loads(jwt.utils.base64url_decode(payload)), "", algorithm="none"),
        "signature cut off": f"{header}.{payload}.",
        "not a jwt": "definitely-not-a-token",
    }

    async def body() -> dict[str, int]:
        return {label: await refusal(jwt_stack.url(token)) for label, token in bad_tokens.items()}

    statuses = run(body())
    assert statuses == dict.fromkeys(bad_tokens, 403)
    # The authorizer answered each one; $connect itself never ran for them.
    assert "$connect" not in [
        event["requestContext"]["routeKey"]
        for event in jwt_stack.events.events()
        if event.get("type") != "REQUEST" and "mallory" in json.dumps(event.get("requestContext", {}))
    ]


def test_the_name_claim_is_what_whoami_and_every_recipient_see_whatever_name_says(jwt_stack: JwtStack) -> None:
    async def body() -> None:
        alice = await open_socket(jwt_stack.url(jwt_stack.token("alice-id", name="Alice"), name="Eve"))
        bob = await open_socket(jwt_stack.url(jwt_stack.token("bob-id", name="Bob")))
        try:
            me = await ask(alice, {"action": "whoami"})
            assert me["name"] == "Alice"
            await alice.send(json.dumps({"action": "broadcast", "message": "hi", "echo": False}))
            received = await recv_json(bob)
            assert received["from"]["name"] == "Alice"
            assert received["message"] == "hi"
        finally:
            await alice.close()
            await bob.close()

    run(body())


def test_a_room_outside_the_rooms_claim_answers_forbidden_and_one_inside_works(jwt_stack: JwtStack) -> None:
    async def body() -> None:
        carol = await open_socket(jwt_stack.url(jwt_stack.token("carol", rooms=["team-*", "lobby"])))
        try:
            assert await ask(carol, {"action": "join", "room": "team-42"}) == {"type": "joined", "room": "team-42"}
            refused = await ask(carol, {"action": "join", "room": "secret"})
            assert refused["type"] == "error" and refused["code"] == "forbidden"
            refused = await ask(carol, {"action": "broadcast", "room": "secret", "message": "psst"})
            assert refused["type"] == "error" and refused["code"] == "forbidden"
            echoed = await ask(carol, {"action": "broadcast", "room": "team-42", "message": "ok"})
            assert echoed["type"] == "message" and echoed["room"] == "team-42"
        finally:
            await carol.close()

    run(body())


def test_message_events_carry_the_authorizers_principal_and_context(jwt_stack: JwtStack) -> None:
    async def body() -> str:
        dave = await open_socket(jwt_stack.url(jwt_stack.token("dave-id", name="Dave", rooms=["r1"])))
        try:
            me = await ask(dave, {"action": "whoami"})
            return str(me["connectionId"])
        finally:
            await dave.close()

    connection_id = run(body())
    message = run(jwt_stack.events.wait_for(connection_id, "whoami"))
    events = [e for e in jwt_stack.events.events() if e["requestContext"]["connectionId"] == connection_id]
    authorizer_events = [e for e in events if e.get("type") == "REQUEST"]
    connects = [e for e in events if e.get("type") != "REQUEST" and e["requestContext"]["routeKey"] == "$connect"]
    expected = {"principalId": "dave-id", "name": "Dave", "rooms": "r1"}
    assert message["requestContext"]["authorizer"] == expected
    assert [e["requestContext"]["authorizer"] for e in connects] == [expected]
    # The authorizer's own event has no authorizer yet, and names the $connect method.
    assert len(authorizer_events) == 1 and "authorizer" not in authorizer_events[0]["requestContext"]
    assert authorizer_events[0]["methodArn"].endswith(f"/{jwt_stack.outputs['stage']}/$connect")


def test_no_token_or_key_appears_in_any_log_line(jwt_stack: JwtStack) -> None:
    token = jwt_stack.token("erin", name="Erin")

    async def body() -> None:
        erin = await open_socket(jwt_stack.url(token))
        try:
            await ask(erin, {"action": "whoami"})
        finally:
            await erin.close()
        await refusal(jwt_stack.url(token[:-3] + "AAA"))

    run(body())
    logs = jwt_stack.thread.run(_all_log_lines(jwt_stack.outputs, jwt_stack.thread.credentials))
    assert logs, "no log lines were shipped"
    signature = token.split(".")[2]
    key_body = b"".join(jwt_stack.key.splitlines()[1:-1]).decode()
    for line in logs:
        assert signature not in line and token.split(".")[1] not in line
        assert key_body[:40] not in line


async def _all_log_lines(outputs: dict[str, str], credentials: LocalCredentials) -> list[str]:
    from util.local.aws import resources as aws

    def read() -> list[str]:
        logs = aws.moto_of(outputs, credentials).client("logs")
        lines: list[str] = []
        for group in (outputs["lambda_log_group"], outputs["api_log_group"]):
            for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
                lines += [event["message"] for event in page["events"]]
        return lines

    await asyncio.sleep(1.5)  # the shipper sends batches about once a second
    return await asyncio.to_thread(read)
