"""What the function does when its store throttles it: against the local stack's store fault proxy
(`--store-fault-rate`: S3 503 SlowDown, DynamoDB ProvisionedThroughputExceededException and ThrottlingException, as
AWS answers), the real handler, real clients.

- Every call throttled (an outage): each store call is tried 3 times (botocore's standard mode) with its backoff
  (`rand(0, 1) * 2**i` seconds before retry i + 1 of a throttled call), then the push raises; Lambda runs it 3 times
  (the event-invoke config), and it lands in the dead-letter queue. Once the store answers, the replay delivers it.
- A share of calls throttled: the retries absorb it; every client gets every push exactly once, none is dead-lettered.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lambda_src.store.open import StoreKind
from tests.util.conftest import run_util
from tests.util_e2e.local_up import util_environment
from util.local.aws.resources import moto_of
from util.local.aws.store_faults import StoreCall
from util.local.stack import StackThread

from .conftest import open_socket, recv_json, run, running_stack, stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.timeout(300)]

RETRY_DELAY_S = 0.3
BOTOCORE_ATTEMPTS = 3
"""botocore's standard retry mode: 3 attempts per call (the store's clients set no other)."""
LAMBDA_ATTEMPTS = 3
JITTER_SLACK_S = 0.5
"""What a 2-core machine adds to a wait between two attempts of one call, at most."""
WAIT_S = 60.0


def _stack(store: str, rate: float, state: Path) -> Any:
    return running_stack(
        stack_settings(
            handler="lambda_src.app.handler",
            code_dir=None,
            store=store,
            store_fault_rate=rate,
            state_path=state,
            async_retry_delays_s=(RETRY_DELAY_S,),
        )
    )


def _publish(stack: StackThread, message: str) -> None:
    # The stack's moto serves only the stack's own credentials (docs/local-stack.md, "Security").
    moto_of(stack.outputs, stack.credentials).client("sns").publish(
        TopicArn=stack.outputs["sns_topic_arn"], Message=message
    )


def _wait_for(read: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while not (value := read()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "local-stack.json"


def test_an_s3_store_that_answers_slow_down_to_every_call_dead_letters_a_push_after_3_by_3_attempts(
    state: Path,
) -> None:
    with _stack(StoreKind.S3, 0.0, state) as stack:
        proxy = stack.stack.store_faults
        assert proxy is not None
        env = util_environment(state)

        async def main() -> Any:
            async with await open_socket(stack.outputs["websocket_url"]) as socket:
                proxy.rate = 1.0  # the outage begins after the client connected
                since = len(proxy.calls)
                await asyncio.to_thread(_publish, stack, '{"pushed": "through an outage"}')

                def letters() -> list[dict[str, Any]]:
                    found: list[dict[str, Any]] = json.loads(run_util(["dead-letters", "--json"], env).stdout)
                    return found

                [letter] = await asyncio.to_thread(_wait_for, letters, "the dead letter")
                calls = proxy.calls[since:]
                proxy.rate = 0.0
                assert run_util(["dead-letters", "--replay"], env).code == 0
                return letter, calls, await recv_json(socket, WAIT_S)

        letter, calls, frame = run(main(), 120)

    assert (letter["kind"], letter["condition"], letter["attempts"]) == ("push", "RetriesExhausted", LAMBDA_ATTEMPTS)
    assert letter["error"] == "1 of 1 records failed: ClientError (SlowDown)"
    assert frame == {"pushed": "through an outage"}
    # Each attempt's first store call (reading the push's claim) was tried 3 times, each answered SlowDown.
    assert all(call.fault == "SlowDown" and call.service == "s3" for call in calls)
    assert len(calls) == LAMBDA_ATTEMPTS * BOTOCORE_ATTEMPTS
    assert len({call.operation for call in calls}) == 1 and "/claims/" in calls[0].operation
    _assert_backoff(calls)


def _assert_backoff(calls: list[StoreCall]) -> None:
    """Within each Lambda attempt, botocore waited at most 1 s, then at most 2 s; Lambda waited its retry delay."""
    attempts = [calls[i : i + BOTOCORE_ATTEMPTS] for i in range(0, len(calls), BOTOCORE_ATTEMPTS)]
    for attempt in attempts:
        waits = [later.at - earlier.at for earlier, later in itertools.pairwise(attempt)]
        assert [wait < bound + JITTER_SLACK_S for wait, bound in zip(waits, (1.0, 2.0), strict=True)] == [True, True]
    for earlier, later in itertools.pairwise(attempts):
        assert later[0].at - earlier[-1].at >= RETRY_DELAY_S


@pytest.mark.parametrize("store", list(StoreKind))
def test_a_store_that_throttles_a_fifth_of_its_calls_loses_and_doubles_no_push(store: str, state: Path) -> None:
    pushes = 10
    with _stack(store, 0.0, state) as stack:
        proxy = stack.stack.store_faults
        assert proxy is not None
        env = util_environment(state)

        async def main() -> list[Counter[str]]:
            sockets = [await open_socket(stack.outputs["websocket_url"]) for _ in range(5)]
            try:
                proxy.rate = 0.2
                for n in range(pushes):
                    await asyncio.to_thread(_publish, stack, json.dumps({"n": n}))
                received = [Counter[str]() for _ in sockets]
                for socket, seen in zip(sockets, received, strict=True):
                    for _ in range(pushes):
                        seen[json.dumps(await recv_json(socket, WAIT_S))] += 1
                    with pytest.raises(TimeoutError):
                        await asyncio.wait_for(socket.recv(), 1.0)  # nothing posted twice
                return received
            finally:
                proxy.rate = 0.0
                for socket in sockets:
                    await socket.close()

        received = run(main(), 180)
        letters = json.loads(run_util(["dead-letters", "--json"], env).stdout)
        faults = Counter(call.fault for call in proxy.faults())

    assert all(seen == Counter({json.dumps({"n": n}): 1 for n in range(pushes)}) for seen in received)
    assert letters == []
    if store == StoreKind.S3:
        assert set(faults) == {"SlowDown"}
    else:
        assert set(faults) == {"ProvisionedThroughputExceededException", "ThrottlingException"}
    assert sum(faults.values()) >= 5
