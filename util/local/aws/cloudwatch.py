"""Ships log lines to CloudWatch Logs (the embedded moto) in batches, off the event loop.

The Lambda's log lines (its stdout/stderr, plus START/END/REPORT) go to `/aws/lambda/<function>`, one stream
per worker as Lambda has one per execution environment; the access log goes to `/aws/apigateway/<api>`.

As CloudWatch Logs does on AWS, a Lambda line in Embedded Metric Format (EMF, see
lambda_src/observability/metrics.py) also becomes metrics: `emf_metric_data` reads it by the specification, and the
shipper sends them to moto's CloudWatch with PutMetricData in the same batch, so `util stats` reads the same metrics
locally as on AWS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import InputLogEventTypeDef

LOGGER = logging.getLogger("wspush.local.logs")

FLUSH_INTERVAL_S = 0.2
MAX_BATCH_EVENTS = 1000
"""Well under PutLogEvents' limits (10,000 events, 1 MB)."""
MAX_EVENT_CHARS = 256 * 1024 - 26
"""CloudWatch's limit on one event (256 KB including 26 bytes of overhead)."""
MAX_METRIC_DATA = 1000
"""PutMetricData takes at most 1,000 metrics a call."""
EMF_KEY = "_aws"


def emf_metric_data(line: str) -> list[tuple[str, MetricDatumTypeDef]]:
    """The (namespace, datum) pairs an EMF line defines; none for any other line, or an EMF line that breaks
    the specification (CloudWatch drops those too, keeping the line as a log event)."""
    if EMF_KEY not in line or not line.lstrip().startswith("{"):
        return []
    try:
        record = json.loads(line)
        meta = record[EMF_KEY]
        timestamp = datetime.fromtimestamp(int(meta["Timestamp"]) / 1000, UTC)
        data: list[tuple[str, MetricDatumTypeDef]] = []
        for directive in meta["CloudWatchMetrics"]:
            namespace = str(directive["Namespace"])
            for dimension_set in directive["Dimensions"]:
                dimensions = [{"Name": str(name), "Value": str(record[name])} for name in dimension_set]
                for metric in directive["Metrics"]:
                    data.append((namespace, _datum(metric, record[metric["Name"]], dimensions, timestamp)))
        return data
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return []


def _datum(metric: dict[str, Any], value: object, dimensions: list[Any], timestamp: datetime) -> MetricDatumTypeDef:
    datum: MetricDatumTypeDef = {"MetricName": str(metric["Name"]), "Dimensions": dimensions, "Timestamp": timestamp}
    if "Unit" in metric:
        datum["Unit"] = metric["Unit"]
    # A list is several values of one metric (the specification allows up to 100).
    if isinstance(value, list):
        datum["Values"] = [_number(v) for v in value]
    else:
        datum["Value"] = _number(value)
    return datum


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return float(value)


class LogShipper:
    def __init__(self, client: CloudWatchLogsClient, metrics_client: CloudWatchClient | None = None) -> None:
        self._client = client
        self._metrics_client = metrics_client
        self._pending_metrics: list[tuple[str, MetricDatumTypeDef]] = []
        self._pending: dict[tuple[str, str], list[InputLogEventTypeDef]] = defaultdict(list)
        self._streams: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._failed_once = False

    def emit(self, group: str, stream: str, message: str, timestamp_ms: int) -> None:
        """Queue one line (call from the event loop's thread)."""
        self._pending[(group, stream)].append({"timestamp": timestamp_ms, "message": message[:MAX_EVENT_CHARS] or " "})

    def emit_metrics(self, data: list[tuple[str, MetricDatumTypeDef]]) -> None:
        """Queue metrics extracted from a log line (call from the event loop's thread)."""
        if self._metrics_client is not None:
            self._pending_metrics.extend(data)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-shipper")

    async def _run(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_INTERVAL_S):
                    await self._closing.wait()
            await self.flush()

    async def flush(self) -> None:
        if not self._pending and not self._pending_metrics:
            return
        batch, self._pending = self._pending, defaultdict(list)
        metrics, self._pending_metrics = self._pending_metrics, []
        await asyncio.to_thread(self._ship, batch)
        if metrics:
            await asyncio.to_thread(self._ship_metrics, metrics)

    def _ship_metrics(self, data: list[tuple[str, MetricDatumTypeDef]]) -> None:
        assert self._metrics_client is not None
        by_namespace: dict[str, list[MetricDatumTypeDef]] = defaultdict(list)
        for namespace, datum in data:
            by_namespace[namespace].append(datum)
        for namespace, data_of_namespace in by_namespace.items():
            try:
                for start in range(0, len(data_of_namespace), MAX_METRIC_DATA):
                    self._metrics_client.put_metric_data(
                        Namespace=namespace, MetricData=data_of_namespace[start : start + MAX_METRIC_DATA]
                    )
            except Exception as error:
                if not self._failed_once:
                    LOGGER.warning("could not put metrics in %s: %s", namespace, error)
                    self._failed_once = True

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
        self._shipper.emit_metrics(emf_metric_data(message))
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
