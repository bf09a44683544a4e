"""Ships log lines to CloudWatch Logs (the embedded moto) in batches, off the event loop.

The Lambda's log lines (its stdout/stderr, plus START/END/REPORT) go to `/aws/lambda/<function>`, one stream
per worker as Lambda has one per execution environment; the access log goes to `/aws/apigateway/<api>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

LOGGER = logging.getLogger("wspush.local.logs")

FLUSH_INTERVAL_S = 0.2
MAX_BATCH_EVENTS = 1000
"""Well under PutLogEvents' limits (10,000 events, 1 MB)."""
MAX_EVENT_CHARS = 256 * 1024 - 26
"""CloudWatch's limit on one event (256 KB including 26 bytes of overhead)."""


class LogShipper:
    def __init__(self, client: CloudWatchLogsClient) -> None:
        self._client = client
        self._pending: dict[tuple[str, str], list[InputLogEventTypeDef]] = defaultdict(list)
        self._streams: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._failed_once = False

    def emit(self, group: str, stream: str, message: str, timestamp_ms: int) -> None:
        """Queue one line (call from the event loop's thread)."""
        self._pending[(group, stream)].append({"timestamp": timestamp_ms, "message": message[:MAX_EVENT_CHARS] or " "})

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-shipper")

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_INTERVAL_S):
                    await self._closing.wait()
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, defaultdict(list)
        await asyncio.to_thread(self._ship, batch)

    def _ship(self, batch: dict[tuple[str, str], list[InputLogEventTypeDef]]) -> None:
        for (group, stream), events in batch.items():
            try:
                if (group, stream) not in self._streams:
                    with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
                        self._client.create_log_stream(logGroupName=group, logStreamName=stream)
                    self._streams.add((group, stream))
                events.sort(key=lambda event: event["timestamp"])
                for start in range(0, len(events), MAX_BATCH_EVENTS):
                    self._client.put_log_events(
                        logGroupName=group, logStreamName=stream, logEvents=events[start : start + MAX_BATCH_EVENTS]
                    )
            except Exception as error:
                # Logs are best effort: a failure must never stop the stack; say so once.
                if not self._failed_once:
                    LOGGER.warning("could not ship logs to %s: %s", group, error)
                    self._failed_once = True

    async def close(self) -> None:
        """Ship everything emitted so far, then stop: returns only when no batch is still in flight."""
        # Not a cancel: cancelling the loop mid-ship would leave its thread shipping after close() returned,
        # into a moto the stack stops next (its lines lost, a spurious "could not ship" warning).
        self._closing.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()


class StreamSink:
    """The runtime's `LogSink` for one log group."""

    def __init__(self, shipper: LogShipper, group: str, echo: logging.Logger | None = None) -> None:
        self._shipper = shipper
        self._group = group
        self._echo = echo

    def emit(self, stream: str, message: str, timestamp_ms: int) -> None:
        self._shipper.emit(self._group, stream, message, timestamp_ms)
        if self._echo is not None:
            self._echo.debug("%s", message)


class AccessLog:
    """The gateway's `AccessLogSink`: one stream of JSON lines in the API's log group."""

    def __init__(self, shipper: LogShipper, group: str, stream: str, echo: logging.Logger | None = None) -> None:
        self._shipper = shipper
        self._group = group
        self._stream = stream
        self._echo = echo

    def write(self, line: str, timestamp_ms: int) -> None:
        self._shipper.emit(self._group, self._stream, line, timestamp_ms)
        if self._echo is not None:
            self._echo.info("%s", line)
