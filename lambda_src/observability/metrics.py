"""Metrics in CloudWatch Embedded Metric Format (EMF): one JSON log line per event, turned into metrics by CloudWatch.

EMF is a documented log format (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
a JSON object whose `_aws` key holds `Timestamp` (ms) and `CloudWatchMetrics` [{Namespace, Dimensions, Metrics}],
with each metric's value and each dimension's value as top-level keys. Lambda ships stdout to CloudWatch Logs,
which extracts the metrics; the local stack does the same (util/local/aws/cloudwatch.py).

Hand-written rather than Powertools' Metrics or aws-embedded-metrics: those cost the cold start more than the
whole handler's own import (figures in docs/benchmarks.md, "Metrics"), for a format that is twenty lines here.

One namespace and few dimensions: `Source` for fan-outs, `Code` for refusals and error frames, `Spender` for
messages the fan-out budget refused. Never a connection id: every distinct dimension value is a metric of its
own, billed and listed apart.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from enum import StrEnum

from lambda_src.observability.clock import now_ms

NAMESPACE = "wspush"
SOURCE_DIMENSION = "Source"
CODE_DIMENSION = "Code"
SPENDER_DIMENSION = "Spender"


class Metric(StrEnum):
    """Every metric the function emits; Terraform's dashboard and alarms and `util stats` name these."""

    RECIPIENTS = "Recipients"
    DELIVERED = "Delivered"
    GONE = "Gone"
    FAILED = "Failed"
    THROTTLED = "Throttled"
    """429s the `@connections` quota answered during a fan-out; each was paced and posted again (not a loss)."""
    FANOUT_MS = "FanoutDuration"
    CONNECTS = "Connects"
    DISCONNECTS = "Disconnects"
    REFUSED_CONNECTS = "RefusedConnects"
    ERROR_FRAMES = "ErrorFrames"
    BUDGET_REFUSED = "BudgetRefused"
    """Messages refused by the fan-out budget, by `Spender` (connection, user); each also counts as an error frame."""
    BUDGET_REFUSED_POSTS = "BudgetRefusedPosts"
    """The posts those messages would have caused: the amplification the budget kept from the account."""


class Source(StrEnum):
    """Where a fan-out came from: a client's broadcast, an SNS push, a shard invocation, a direct `send`, a
    presence frame, or a continuation."""

    BROADCAST = "broadcast"
    PUSH = "push"
    SHARD = "shard"
    DIRECT = "direct"
    PRESENCE = "presence"
    CONTINUATION = "continuation"
    """The rest of a fan-out, posted by a continuation invocation after its first invocation's deadline neared."""


UNITS: dict[Metric, str] = {metric: "Count" for metric in Metric} | {Metric.FANOUT_MS: "Milliseconds"}

FANOUT_METRICS = (
    Metric.RECIPIENTS,
    Metric.DELIVERED,
    Metric.GONE,
    Metric.FAILED,
    Metric.THROTTLED,
    Metric.FANOUT_MS,
)


def emf_record(values: Mapping[Metric, float], dimensions: Mapping[str, str], timestamp_ms: int) -> dict[str, object]:
    """The EMF object for `values` under one dimension set (which may be empty)."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": metric.value, "Unit": UNITS[metric]} for metric in values],
                }
            ],
        },
        **dimensions,
        **{metric.value: value for metric, value in values.items()},
    }


def emit(values: Mapping[Metric, float], dimensions: Mapping[str, str] | None = None) -> None:
    """Write one EMF line to stdout; never raises (a metric is not worth a failed invocation)."""
    try:
        line = json.dumps(emf_record(values, dimensions or {}, now_ms()), separators=(",", ":"))
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except Exception:
        pass


def fanout(
    source: Source, *, recipients: int, delivered: int, gone: int, failed: int, ms: int, throttled: int = 0
) -> None:
    """One fan-out's summary. `throttled` is the fan-out's 429s (`FanoutSummary.throttled`); a single post
    (`Source.DIRECT`) retries its 429s inside `fanout.post_one` and reports none."""
    emit(
        {
            Metric.RECIPIENTS: recipients,
            Metric.DELIVERED: delivered,
            Metric.GONE: gone,
            Metric.FAILED: failed,
            Metric.THROTTLED: throttled,
            Metric.FANOUT_MS: ms,
        },
        {SOURCE_DIMENSION: source.value},
    )


def connected() -> None:
    emit({Metric.CONNECTS: 1})


def disconnected() -> None:
    emit({Metric.DISCONNECTS: 1})


def refused(code: str) -> None:
    emit({Metric.REFUSED_CONNECTS: 1}, {CODE_DIMENSION: code})


def error_frame(code: str) -> None:
    emit({Metric.ERROR_FRAMES: 1}, {CODE_DIMENSION: code})


def budget_refused(spender: str, posts: int) -> None:
    """A message the fan-out budget of `spender` ("connection" or "user") refused, and the posts it would cause."""
    emit({Metric.BUDGET_REFUSED: 1, Metric.BUDGET_REFUSED_POSTS: posts}, {SPENDER_DIMENSION: spender})
