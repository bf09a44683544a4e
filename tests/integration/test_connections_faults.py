"""What the function does when `@connections` fails: against the local stage's own fault injection (`--fault-rate`,
`--fault-statuses`), the real handler, a real client, every answer of the stage counted (`ManagementApi.calls`).

- 500 on every call: the poster tries a post 6 times (`MAX_ATTEMPTS`), waiting at most `min(2, 0.05 * 2**n)` s before
  retry n; then the post is failed for good: the `fanout` line counts it `failed`, with its error, and the push is
  done (a failed post is an answer: retrying the invocation would not change it; the `Failed` alarm reports it).
- 429 LimitExceededException: never a failure; the fan-out paces (at least one post a second) and posts again until
  the quota lets it through: delivered once, every 429 counted as `throttled`.
- 429 until the invocation's deadline: the post is left unfinished and handed to a continuation, which delivers it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lambda_src.aws.management_api import BASE_BACKOFF_S, MAX_ATTEMPTS, MAX_BACKOFF_S
from lambda_src.aws.posting import DEADLINE_MARGIN_MS
from lambda_src.delivery.pacing import JITTER, MIN_RATE_PER_S
from util.local.aws.resources import moto_of
from util.local.gateway.management import ConnectionsCall, ManagementApi
from util.local.stack import StackThread

from .conftest import function_log_lines, open_socket, recv_json, run, running_stack, stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

SLACK_S = 0.5
"""What a loaded 2-core machine may add to a wait."""
WAIT_S = 60.0
TIMEOUT_S = 3.0


def _settings(statuses: tuple[int, ...], timeout_s: float = 10.0) -> Any:
    return stack_settings(handler="lambda_src.app.handler", code_dir=None, fault_statuses=statuses, timeout_s=timeout_s)


@pytest.fixture(scope="module")
def failing() -> Iterator[StackThread]:
    with running_stack(_settings((500,))) as stack:
        yield stack


@pytest.fixture(scope="module")
def throttling() -> Iterator[StackThread]:
    with running_stack(_settings((429,))) as stack:
        yield stack


@pytest.fixture(scope="module")
def throttling_briefly() -> Iterator[StackThread]:
    with running_stack(_settings((429,), timeout_s=TIMEOUT_S)) as stack:
        yield stack


def _management(stack: StackThread) -> ManagementApi:
    assert stack.stack is not None and stack.stack.management is not None
    return stack.stack.management


def _push_to(stack: StackThread, connection_id: str, message: str) -> None:
    moto_of(stack.outputs, stack.credentials).client("sns").publish(
        TopicArn=stack.outputs["sns_topic_arn"],
        Message=message,
        MessageAttributes={"connectionId": {"DataType": "String", "StringValue": connection_id}},
    )


def _wait_for(read: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (value := read()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def _posts(management: ManagementApi, connection_id: str, since: float) -> list[ConnectionsCall]:
    """The posts to `connection_id` that arrived after `since` (monotonic)."""
    return [c for c in management.calls if c.at > since and c.connection_id == connection_id and c.method == "POST"]


async def _whoami(socket: Any) -> str:
    await socket.send(json.dumps({"action": "whoami"}))
    return str((await recv_json(socket))["connectionId"])


def test_a_post_answered_500_every_time_is_tried_6_times_with_backoff_then_counted_failed(
    failing: StackThread,
) -> None:
    management = _management(failing)

    async def main() -> tuple[str, float, list[dict[str, Any]]]:
        async with await open_socket(failing.outputs["websocket_url"]) as socket:
            connection_id = await _whoami(socket)
            since = time.monotonic()
            since_ms = time.time_ns() // 1_000_000
            management.fault_rate = 1.0
            try:
                await asyncio.to_thread(_push_to, failing, connection_id, "never arrives")
                lines = await asyncio.to_thread(
                    _wait_for, lambda: function_log_lines(failing, since_ms, "fanout"), "the fan-out line"
                )
            finally:
                management.fault_rate = 0.0
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(socket.recv(), 0.5)
            return connection_id, since, lines

    connection_id, since, [line] = run(main(), 120)

    posts = _posts(management, connection_id, since)
    assert [post.status for post in posts] == [500] * MAX_ATTEMPTS
    for n, (earlier, later) in enumerate(itertools.pairwise(posts), start=1):
        assert later.at - earlier.at < min(MAX_BACKOFF_S, BASE_BACKOFF_S * 2**n) + SLACK_S
    assert (line["recipients"], line["delivered"], line["failed"], line["throttled"]) == (1, 0, 1, 0)
    assert list(line["errors"]) == ["InternalServerErrorException"]
    assert function_log_lines(failing, 0, "push failed") == []  # not retried by Lambda: the post's answer is final


def test_a_post_throttled_429_is_paced_and_posted_again_until_delivered_once(throttling: StackThread) -> None:
    management = _management(throttling)
    throttled = 5

    async def main() -> tuple[str, float, Any, list[dict[str, Any]]]:
        async with await open_socket(throttling.outputs["websocket_url"]) as socket:
            connection_id = await _whoami(socket)
            since_ms = time.time_ns() // 1_000_000
            since = time.monotonic()
            stop_throttling_after(management, connection_id, since, throttled)
            await asyncio.to_thread(_push_to, throttling, connection_id, '{"paced": true}')
            frame = await recv_json(socket, WAIT_S)
            lines = await asyncio.to_thread(
                _wait_for, lambda: function_log_lines(throttling, since_ms, "fanout"), "the fan-out line"
            )
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(socket.recv(), 0.5)
            return connection_id, since, frame, lines

    connection_id, since, frame, [line] = run(main(), 120)

    posts = _posts(management, connection_id, since)
    assert [post.status for post in posts] == [429] * throttled + [200]
    pace_s = (1 + JITTER) / MIN_RATE_PER_S
    assert all(later.at - earlier.at < pace_s + SLACK_S for earlier, later in itertools.pairwise(posts))
    assert frame == {"paced": True}
    assert (line["delivered"], line["failed"], line["throttled"], line["unfinished"]) == (1, 0, throttled, 0)


def stop_throttling_after(management: ManagementApi, connection_id: str, since: float, count: int) -> None:
    """Throttle every call until `count` posts to `connection_id` were answered 429 (in a thread of its own)."""
    management.fault_rate = 1.0

    def watch() -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if sum(1 for c in _posts(management, connection_id, since) if c.status == 429) >= count:
                break
            time.sleep(0.005)
        management.fault_rate = 0.0

    threading.Thread(target=watch, daemon=True).start()


def test_a_post_throttled_until_the_deadline_is_continued_and_delivered_once(throttling_briefly: StackThread) -> None:
    """A 3 s function: posting stops 2 s before its deadline (`DEADLINE_MARGIN_MS`), the post is handed on."""
    management = _management(throttling_briefly)

    async def main() -> tuple[str, float, Any, list[dict[str, Any]]]:
        async with await open_socket(throttling_briefly.outputs["websocket_url"]) as socket:
            connection_id = await _whoami(socket)
            since = time.monotonic()
            since_ms = time.time_ns() // 1_000_000
            management.fault_rate = 1.0
            await asyncio.to_thread(_push_to, throttling_briefly, connection_id, '{"continued": true}')

            def continued() -> list[dict[str, Any]]:
                return function_log_lines(throttling_briefly, since_ms, "continued")

            await asyncio.to_thread(_wait_for, continued, "the hand-off")
            management.fault_rate = 0.0
            frame = await recv_json(socket, WAIT_S)
            await asyncio.to_thread(
                _wait_for,
                lambda: [x for x in function_log_lines(throttling_briefly, since_ms, "fanout") if x["delivered"]],
                "the continuation's fan-out line",
            )
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(socket.recv(), 0.5)
            return connection_id, since, frame, function_log_lines(throttling_briefly, since_ms, "fanout")

    connection_id, since, frame, lines = run(main(), 120)

    assert frame == {"continued": True}
    first, *chain = lines
    assert (first["delivered"], first["unfinished"], first["continued"]) == (0, 1, 1)
    assert first["throttled"] >= 1
    assert chain[-1]["delivered"] == 1 and "continuation" in chain[-1]
    throttled = [post for post in _posts(management, connection_id, since) if post.status == 429]
    # The first invocation's posts (its `throttled` first ones) all went out while more than the margin was left.
    mine = throttled[: first["throttled"]]
    assert mine[-1].at - mine[0].at <= TIMEOUT_S - DEADLINE_MARGIN_MS / 1000 + SLACK_S
