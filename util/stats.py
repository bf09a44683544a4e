"""`util stats [--since 15m] [--json]`: the function's metrics (namespace `wspush`) over a recent window.

Reads CloudWatch with ListMetrics (which metric and dimension combinations exist) and GetMetricData (their
sums per period, or the average for durations). The same on AWS and locally: the local stack turns the
function's EMF lines into metrics in its CloudWatch, as CloudWatch Logs does on AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lambda_src.observability.metrics import NAMESPACE, UNITS, Metric

from .clients import cloudwatch_client
from .console import out
from .environments import load_outputs
from .errors import InputError
from .options import EnvOption, resolve_env
from .tail_logs import parse_since

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef

DEFAULT_SINCE = "15m"
MIN_PERIOD_S = 60
"""CloudWatch keeps standard-resolution metrics per minute."""
POINTS = 30
"""About this many periods per sparkline."""
MAX_QUERIES = 500
"""GetMetricData takes at most 500 queries a call."""
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Series:
    name: str
    dimensions: dict[str, str]
    stat: str
    points: list[tuple[datetime, float]]

    @property
    def total(self) -> float:
        values = [value for _, value in self.points]
        if self.stat == "Sum":
            return sum(values)
        return sum(values) / len(values) if values else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "metric": self.name,
            "dimensions": self.dimensions,
            "stat": self.stat,
            "value": _number(self.total),
            "points": [{"timestamp": _iso(moment), "value": _number(value)} for moment, value in self.points],
        }


def period_for(span_s: float) -> int:
    """A whole number of minutes giving about POINTS periods over the window."""
    minutes = max(1, round(span_s / POINTS / MIN_PERIOD_S))
    return minutes * MIN_PERIOD_S


def stat_for(name: str) -> str:
    known = {metric.value: metric for metric in Metric}
    return "Average" if name in known and UNITS[known[name]] == "Milliseconds" else "Sum"


def read(client: CloudWatchClient, start: datetime, end: datetime) -> list[Series]:
    """Every metric of the namespace that has data in the window, one series per dimension combination."""
    found: list[tuple[str, dict[str, str]]] = []
    for page in client.get_paginator("list_metrics").paginate(Namespace=NAMESPACE):
        for metric in page.get("Metrics", []):
            dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            found.append((metric.get("MetricName", ""), dimensions))
    # One entry per metric and dimension set (moto lists one per datum put; AWS once).
    found = list({(name, tuple(sorted(dims.items()))): (name, dims) for name, dims in found}.values())
    found.sort(key=lambda item: (_order(item[0]), sorted(item[1].items())))
    period = period_for((end - start).total_seconds())
    series: list[Series] = []
    for offset in range(0, len(found), MAX_QUERIES):
        chunk = found[offset : offset + MAX_QUERIES]
        queries: list[MetricDataQueryTypeDef] = [
            {
                "Id": f"m{index}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    },
                    "Period": period,
                    "Stat": stat_for(name),
                },
            }
            for index, (name, dimensions) in enumerate(chunk)
        ]
        results: dict[str, tuple[list[datetime], list[float]]] = {}
        for data_page in client.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
        ):
            for result in data_page.get("MetricDataResults", []):
                stamps, values = results.setdefault(result.get("Id", ""), ([], []))
                stamps.extend(result.get("Timestamps", []))
                values.extend(result.get("Values", []))
        for index, (name, dimensions) in enumerate(chunk):
            stamps, values = results.get(f"m{index}", ([], []))
            if values:
                points = sorted(zip(stamps, values, strict=True))
                series.append(Series(name, dimensions, stat_for(name), points))
    return series


def totals(series: list[Series]) -> dict[str, float]:
    """Per metric, summed over its dimensions (counts only; a duration's average does not add up)."""
    summed: dict[str, float] = {}
    for s in series:
        if s.stat == "Sum":
            summed[s.name] = summed.get(s.name, 0.0) + s.total
    return {name: _number(value) for name, value in summed.items()}


def sparkline(values: list[float]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[len(SPARKS) // 2 if high else 0] * len(values)
    return "".join(SPARKS[round((v - low) / (high - low) * (len(SPARKS) - 1))] for v in values)


def table(series: list[Series]) -> Table:
    view = Table("metric", "dimensions", "stat", "value", "trend", box=None, pad_edge=False)
    for s in series:
        dimensions = " ".join(f"{k}={v}" for k, v in s.dimensions.items())
        view.add_row(s.name, dimensions, s.stat, f"{_number(s.total):g}", sparkline([v for _, v in s.points]))
    return view


def _order(name: str) -> int:
    names = [metric.value for metric in Metric]
    return names.index(name) if name in names else len(names)


def _number(value: float) -> float:
    return int(value) if float(value).is_integer() else round(value, 3)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def command(
    *,
    env: EnvOption = None,
    since: Annotated[
        str, typer.Option("--since", "-s", help="The window: this long ago (30m, 2h, 1d) or an ISO 8601 time.")
    ] = DEFAULT_SINCE,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Show the function's metrics (deliveries, connects, error frames, ...) over the window, with a trend."""
    end = datetime.now(UTC)
    start_ms = parse_since(since, end)
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    if start >= end:
        raise InputError(f"--since {since!r} is not in the past")
    series = read(cloudwatch_client(load_outputs(resolve_env(env))), start, end)
    if as_json:
        document = {
            "namespace": NAMESPACE,
            "start": _iso(start),
            "end": _iso(end),
            "totals": totals(series),
            "series": [s.as_json() for s in series],
        }
        out.print(json.dumps(document, indent=2), markup=False)
    elif not series:
        out.print(f"no {NAMESPACE} metrics since {_iso(start)}", markup=False)
    else:
        out.print(table(series))
