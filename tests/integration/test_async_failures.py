"""Every asynchronous path fails loudly on the local stack: raise, retries, dead letter, `util dead-letters`, replay.

The stack runs the real handler behind `handlers.faults`, which makes chosen attempts of chosen event kinds raise
(in the middle of a fan-out, or at its start) or meet their deadline; the runtime retries what raised as Lambda does
(the event-invoke config: 2 retries, here 0.2 s apart) and sends what failed every attempt to the stack's dead-letter
queue, where `util dead-letters` (a real `util` process on the stack's state file) finds it and `--replay` sends it
back. Every client counts its frames: each must read exactly one, whatever failed and was retried in between. One
lane per fan-out (`FANOUT_CONCURRENCY=1`) makes "part-way" exact: an attempt that fails after n posts reached n + 1.

The push whose store is down is tests/util_e2e/test_failures.py (`util local up`, its bucket deleted).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from lambda_src.config import CONNECT_TOKEN_PLACEHOLDER
from tests.util.conftest import Result, run_util
from tests.util_e2e.local_up import util_environment
from util.local.aws.resources import moto_of
from util.local.stack import StackThread

from .conftest import REPO_ROOT, function_log_lines, open_socket, recv_json, run, running_stack, stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

SHARD_SIZE = 4
RETRY_DELAY_S = 0.2
WAIT_S = 60.0
QUIET_S = 0.5
"""After the last expected line was logged, a client reads this long more to catch a frame posted twice."""


@dataclass
class FaultyStack:
    stack: StackThread
    faults: Path
    env: dict[str, str]

    def inject(self, rules: dict[str, Any]) -> None:
        self.faults.write_text(json.dumps(rules), encoding="utf-8")

    def util(self, *args: str) -> Result:
        result = run_util(list(args), self.env, timeout_s=60.0)
        assert result.code == 0, result.stderr
        return result

    def dead_letters(self) -> list[dict[str, Any]]:
        letters: list[dict[str, Any]] = json.loads(self.util("dead-letters", "--json").stdout)
        return letters

    def publish(self, message: str, **attributes: str) -> None:
        sns = moto_of(self.stack.outputs, self.stack.credentials).client("sns")
        sns.publish(
            TopicArn=self.stack.outputs["sns_topic_arn"],
            Message=message,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyStack]:
    work = tmp_path_factory.mktemp("async-failures")
    faults = work / "faults.json"
    state = work / "state" / "local-stack.json"
    settings = stack_settings(
        handler="tests.integration.handlers.faults.handler",
        code_dir=REPO_ROOT,
        workers=3,
        state_path=state,
        async_retry_delays_s=(RETRY_DELAY_S,),
        function_environment={"SHARD_SIZE": str(SHARD_SIZE), "FANOUT_CONCURRENCY": "1", "FAULTS_FILE": str(faults)},
    )
    with running_stack(settings) as stack:
        yield FaultyStack(stack, faults, util_environment(state))


def wait_for(read: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (value := read()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


async def clients_in(url: str, count: int, room: str | None) -> list[ClientConnection]:
    """`count` clients, in `room` if given; each has read its `joined` and the presence frame of every later joiner."""
    sockets = [await open_socket(url) for _ in range(count)]
    if room is not None:
        for socket in sockets:
            await socket.send(json.dumps({"action": "join", "room": room}))
            assert (await recv_json(socket, WAIT_S))["type"] == "joined"
        for i, socket in enumerate(sockets):
            for _ in range(count - 1 - i):
                assert (await recv_json(socket, WAIT_S))["type"] == "presence"
    return sockets


async def frames_of(sockets: list[ClientConnection], settled: Any) -> list[Counter[str]]:
    """Each client's first frame, then (once `settled()` is true, in a thread) whatever else comes within QUIET_S."""
    received = [Counter[str]() for _ in sockets]
    for socket, seen in zip(sockets, received, strict=True):
        seen[json.dumps(await recv_json(socket, WAIT_S))] += 1
    await asyncio.to_thread(settled)
    for socket, seen in zip(sockets, received, strict=True):
        while True:
            try:
                frame = await asyncio.wait_for(socket.recv(), QUIET_S)
            except TimeoutError:
                break
            seen[json.dumps(json.loads(frame))] += 1
    return received


def lines(faulty: FaultyStack, since_ms: int, message: str) -> list[dict[str, Any]]:
    return function_log_lines(faulty.stack, since_ms, message)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_a_shard_that_raises_midway_is_retried_and_posts_to_nobody_twice(faulty: FaultyStack) -> None:
    """10 members, shards of 4: two shard invocations, each failing once after its third post (of four)."""
    faulty.inject({"shard": {"failAttempts": 1, "afterPosts": 2, "match": "once"}})
    since = now_ms()

    def retried() -> list[dict[str, Any]]:
        found = [line for line in lines(faulty, since, "fanout") if line.get("resumed")]
        return found if len(found) == 2 else []

    async def main() -> list[Counter[str]]:
        sockets = await clients_in(faulty.stack.outputs["websocket_url"], 10, "midway")
        try:
            await sockets[0].send(json.dumps({"action": "broadcast", "room": "midway", "message": "once"}))
            return await frames_of(sockets, lambda: wait_for(retried, "both shards' retries"))
        finally:
            for socket in sockets:
                await socket.close()

    received = run(main(), 120)

    assert all(sum(seen.values()) == 1 and "once" in next(iter(seen)) for seen in received)
    assert sorted((line["resumed"], line["recipients"], line["delivered"]) for line in retried()) == [(3, 1, 1)] * 2
    failures = lines(faulty, since, "invocation failed")
    assert [line["event"] for line in failures] == ["Shard", "Shard"]
    assert faulty.dead_letters() == []


def test_a_shard_that_fails_every_attempt_is_dead_lettered_and_its_replay_posts_only_the_rest(
    faulty: FaultyStack,
) -> None:
    """Each attempt reaches one more member before it raises; after three, the event is a dead letter."""
    faulty.inject({"shard": {"failAttempts": 3, "afterPosts": 0, "match": "late"}})

    async def main() -> list[Counter[str]]:
        sockets = await clients_in(faulty.stack.outputs["websocket_url"], 10, "doomed")
        try:
            await sockets[0].send(json.dumps({"action": "broadcast", "room": "doomed", "message": "late"}))
            letters = await asyncio.to_thread(wait_for, lambda: _two(faulty.dead_letters()), "two dead letters")
            assert {(x["kind"], x["condition"], x["attempts"]) for x in letters} == {("shard", "RetriesExhausted", 3)}
            assert all("injected fault after 0 posts" in x["error"] for x in letters)
            faulty.inject({})
            replayed = json.loads(faulty.util("dead-letters", "--replay", "--json").stdout)
            assert len(replayed["replayed"]) == 2
            return await frames_of(sockets, lambda: wait_for(lambda: faulty.dead_letters() == [], "an empty queue"))
        finally:
            for socket in sockets:
                await socket.close()

    received = run(main(), 120)

    assert all(sum(seen.values()) == 1 and "late" in next(iter(seen)) for seen in received)


def _two(letters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return letters if len(letters) == 2 else []


def test_segments_that_fail_every_attempt_are_dead_lettered_and_replayed_to_everyone_once(
    faulty: FaultyStack,
) -> None:
    """A broadcast to everyone over `SHARD_SIZE` splits into segment invocations; each raises at its start."""
    faulty.inject({"segment": {"failAttempts": 3, "match": "segmented"}})

    async def main() -> tuple[list[Counter[str]], list[dict[str, Any]]]:
        sockets = await clients_in(faulty.stack.outputs["websocket_url"], 10, None)
        try:
            since = now_ms()
            await sockets[0].send(json.dumps({"action": "broadcast", "message": "segmented"}))
            [split] = await asyncio.to_thread(wait_for, lambda: lines(faulty, since, "segmented"), "the split")
            letters = await asyncio.to_thread(
                wait_for, lambda: _all(faulty.dead_letters(), split["segments"]), "every segment's dead letter"
            )
            faulty.inject({})
            faulty.util("dead-letters", "--replay")
            received = await frames_of(sockets, lambda: wait_for(lambda: faulty.dead_letters() == [], "empty"))
            return received, letters
        finally:
            for socket in sockets:
                await socket.close()

    received, letters = run(main(), 120)

    assert {(x["kind"], x["attempts"]) for x in letters} == {("segment", 3)}
    assert all(sum(seen.values()) == 1 and "segmented" in next(iter(seen)) for seen in received)


def _all(letters: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return letters if len(letters) == count else []


def test_a_continuation_that_fails_every_attempt_is_dead_lettered_and_its_replay_delivers_the_rest(
    faulty: FaultyStack,
) -> None:
    """A room push meets its deadline after one post and hands the rest on; the continuation raises every time."""
    faulty.inject(
        {
            "push": {"deadlineAfterPosts": 1, "match": "in parts"},
            "continuation": {"failAttempts": 3, "match": "in parts"},
        }
    )

    async def main() -> tuple[list[Counter[str]], list[dict[str, Any]]]:
        sockets = await clients_in(faulty.stack.outputs["websocket_url"], 3, "handed-on")
        try:
            await asyncio.to_thread(faulty.publish, '{"pushed": "in parts"}', room="handed-on")
            letters = await asyncio.to_thread(wait_for, faulty.dead_letters, "the continuation's dead letter")
            faulty.inject({})
            faulty.util("dead-letters", "--replay")
            received = await frames_of(sockets, lambda: wait_for(lambda: faulty.dead_letters() == [], "empty"))
            return received, letters
        finally:
            for socket in sockets:
                await socket.close()

    received, letters = run(main(), 120)

    [letter] = letters
    assert (letter["kind"], letter["attempts"], len(letter["event"]["continuation"]["connectionIds"])) == (
        "continuation",
        3,
        2,
    )
    assert all(seen == Counter({'{"pushed": "in parts"}': 1}) for seen in received)


def test_a_configuration_error_at_a_cold_start_dead_letters_a_push_and_answers_connects_500(
    tmp_path: Path,
) -> None:
    """`--auth token` with the token parameter left as Terraform creates it: every cold start fails its configuration.
    The push raises on each attempt (not a returned 500: that would be a silent success) and lands in the dead-letter
    queue; a handshake is refused with 500. Once the parameter holds the token, the replay delivers the push."""
    state = tmp_path / "state" / "local-stack.json"
    settings = stack_settings(
        handler="lambda_src.app.handler",
        code_dir=None,
        auth="token",
        token="the-secret",
        state_path=state,
        async_retry_delays_s=(RETRY_DELAY_S,),
    )
    with running_stack(settings) as stack:
        env = util_environment(state)
        ssm = moto_of(stack.outputs, stack.credentials).client("ssm")
        parameter = stack.outputs.get("connect_token_parameter") or _token_parameter(ssm)
        ssm.put_parameter(Name=parameter, Value=CONNECT_TOKEN_PLACEHOLDER, Type="SecureString", Overwrite=True)
        url = f"{stack.outputs['websocket_url']}?token=the-secret"

        async def refused() -> int:
            with pytest.raises(InvalidStatus) as error:
                await open_socket(url)
            return error.value.response.status_code

        assert run(refused()) == 500
        assert run_util(["send-data", '{"pushed": "after the fix"}'], env).code == 0

        def letters() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = json.loads(run_util(["dead-letters", "--json"], env).stdout)
            return found

        [letter] = wait_for(letters, "the push's dead letter")
        assert (letter["kind"], letter["condition"], letter["attempts"]) == ("push", "RetriesExhausted", 3)
        assert "connect token parameter" in letter["error"]

        ssm.put_parameter(Name=parameter, Value="the-secret", Type="SecureString", Overwrite=True)

        async def replayed() -> Any:
            async with await open_socket(url) as socket:
                assert run_util(["dead-letters", "--replay"], env).code == 0
                return await recv_json(socket, WAIT_S)

        assert run(replayed()) == {"pushed": "after the fix"}
        assert letters() == []


def _token_parameter(ssm: Any) -> str:
    [parameter] = ssm.describe_parameters()["Parameters"]
    return str(parameter["Name"])
