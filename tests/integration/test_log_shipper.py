"""The local stack's log shipper against a real moto: closing it ships every line, even one mid-flight."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import boto3

from util.local.aws.cloudwatch import LogShipper

GROUP = "/aws/lambda/shipper-test"
STREAM = "worker-1"
GATE_TIMEOUT_S = 10.0


class GatedLogsClient:
    """A real CloudWatch Logs client whose first PutLogEvents waits for the test to let it through."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.exceptions = client.exceptions
        self.first_put_started = threading.Event()
        self.release_first_put = threading.Event()
        self._puts = 0

    def create_log_stream(self, **kwargs: Any) -> Any:
        return self._client.create_log_stream(**kwargs)

    def put_log_events(self, **kwargs: Any) -> Any:
        self._puts += 1
        if self._puts == 1:
            self.first_put_started.set()
            if not self.release_first_put.wait(GATE_TIMEOUT_S):
                raise TimeoutError("the test never released the first put")
        return self._client.put_log_events(**kwargs)


def shipped_messages(client: Any) -> list[str]:
    events = client.get_log_events(logGroupName=GROUP, logStreamName=STREAM, startFromHead=True)["events"]
    return [event["message"] for event in events]


def test_close_waits_for_the_batch_in_flight_and_ships_lines_emitted_meanwhile(moto_endpoint: str) -> None:
    logs = boto3.client("logs", endpoint_url=moto_endpoint, region_name="us-east-1")
    logs.create_log_group(logGroupName=GROUP)
    gated = GatedLogsClient(logs)

    async def scenario() -> bool:
        shipper = LogShipper(gated)  # type: ignore[arg-type]
        now_ms = int(time.time() * 1000)  # CloudWatch refuses events older than 14 days
        shipper.emit(GROUP, STREAM, "first", now_ms)
        shipper.start()
        started = await asyncio.to_thread(gated.first_put_started.wait, GATE_TIMEOUT_S)
        assert started, "the shipper never shipped the first line"
        shipper.emit(GROUP, STREAM, "second", now_ms + 1)
        closing = asyncio.create_task(shipper.close())
        await asyncio.sleep(0.3)
        returned_before_the_put_finished = closing.done()
        gated.release_first_put.set()
        await asyncio.wait_for(closing, GATE_TIMEOUT_S)
        return returned_before_the_put_finished

    returned_early = asyncio.run(asyncio.wait_for(scenario(), 3 * GATE_TIMEOUT_S))

    assert not returned_early, "close() returned while a batch was still being shipped"
    assert shipped_messages(logs) == ["first", "second"]
