"""`util tail-logs`: the Lambda's and the API's log groups, interleaved in time order.

Polls `filter_log_events` (on AWS and on moto alike; moto has no live tail). Following keeps a short
window behind the newest event, because CloudWatch may ingest an event after a later one: events are
de-duplicated by id, so the overlap never prints twice.

`--format` as `aws logs tail` names them: `short` (the default here: the runtime's START/END/REPORT
lines hidden, API access lines cut to what happened), `detailed` (every line, every field) and `json`
(one JSON object per event, for `jq`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from botocore.exceptions import ClientError
from rich.text import Text

from .clients import logs_client
from .console import out
from .environments import Outputs, load_outputs
from .errors import AwsError, InputError
from .options import EnvOption, resolve_env

if TYPE_CHECKING:
    from mypy_boto3_logs.client import CloudWatchLogsClient

DEFAULT_SINCE = "10m"
DEFAULT_POLL_INTERVAL_S = 2.0
MIN_POLL_INTERVAL_S = 0.2
LATE_ARRIVAL_WINDOW_MS = 30_000
"""How far behind the newest event each poll looks again, for events ingested out of order."""
SINCE_PATTERN = re.compile(r"(\d+)\s*([smhdw])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
LEVEL_STYLES = {
    "DEBUG": "dim",
    "INFO": "green",
    "WARNING": "yellow",
    "WARN": "yellow",
    "ERROR": "bold red",
    "CRITICAL": "bold white on red",
}
# Shown in their own columns (or not at all), so not repeated among the fields.
_SHOWN_KEYS = frozenset({"timestamp", "level", "message", "logger"})
BOOKKEEPING = re.compile(r"(START|END|REPORT|INIT_START|INIT_REPORT|INIT_RUNTIME_DONE|EXTENSION|TELEMETRY)\b")
"""The lines Lambda's runtime writes around every invocation (not the function's own)."""
SHORT_API_FIELDS = (
    "eventType",
    "routeKey",
    "status",
    "connectionId",
    "integrationStatus",
    "integrationLatency",
    "error",
    "errorMessage",
    "integrationError",
)
"""What `short` keeps of an access-log line (~300 characters whole): what happened, to whom, how it ended."""
SHORT_HIDDEN_FIELDS = frozenset({"requestId"})


@dataclass(frozen=True)
class Selection:
    """`--connection` / `--request`: only the events about this connection or request (both: about both).

    Matched on the lines' own fields (the function's `connectionId`/`requestId`, the access log's), after
    fetching: a JSON filter pattern would do it on AWS, but moto ignores those, and the two stacks must agree.
    A runtime line (START/END/REPORT) names its request as `RequestId: ID`.
    """

    connection_id: str | None = None
    request_id: str | None = None

    def __bool__(self) -> bool:
        return self.connection_id is not None or self.request_id is not None

    def matches(self, event: LogEvent) -> bool:
        record = _json_object(event.message)
        if self.connection_id is not None and (record is None or record.get("connectionId") != self.connection_id):
            return False
        if self.request_id is not None:
            if record is not None:
                return record.get("requestId") == self.request_id
            return f"RequestId: {self.request_id}" in event.message
        return True


class LogFormat(StrEnum):
    SHORT = "short"
    DETAILED = "detailed"
    JSON = "json"


class Source(StrEnum):
    LAMBDA = "lambda"
    API = "api"
    ALL = "all"


@dataclass(frozen=True, order=True)
class LogEvent:
    timestamp_ms: int
    source: str
    event_id: str
    message: str


def parse_since(text: str, now: datetime) -> int:
    """Milliseconds since the epoch for `10m`, `2h`, `1d`, ... ago, or for an ISO 8601 time."""
    value = text.strip()
    match = SINCE_PATTERN.fullmatch(value)
    if match:
        seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
        return int((now - timedelta(seconds=seconds)).timestamp() * 1000)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"invalid --since {text!r}: use a duration like 30s, 10m, 2h, 1d or an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def log_groups(outputs: Outputs, source: Source) -> dict[str, str]:
    """Source label -> log group name, for the groups `source` selects."""
    groups: dict[str, str] = {}
    if source in (Source.LAMBDA, Source.ALL):
        groups[Source.LAMBDA.value] = outputs.require("lambda_log_group")
    if source in (Source.API, Source.ALL):
        groups[Source.API.value] = outputs.require("api_log_group")
    return groups


def fetch(
    client: CloudWatchLogsClient, groups: Mapping[str, str], start_ms: int, pattern: str | None
) -> list[LogEvent]:
    """Every event from `start_ms` on in all `groups`, in time order."""
    events: list[LogEvent] = []
    for label, group in groups.items():
        paginator = client.get_paginator("filter_log_events")
        arguments: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
        if pattern:
            arguments["filterPattern"] = pattern
        try:
            for page in paginator.paginate(**arguments):
                events.extend(
                    LogEvent(
                        timestamp_ms=event.get("timestamp", 0),
                        source=label,
                        event_id=event.get("eventId", ""),
                        message=event.get("message", ""),
                    )
                    for event in page.get("events", [])
                )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise AwsError(f"log group {group} does not exist") from None
            raise
    return sorted(events)


def is_bookkeeping(event: LogEvent) -> bool:
    return event.source == Source.LAMBDA.value and BOOKKEEPING.match(event.message) is not None


def json_record(event: LogEvent) -> str:
    """The event as one JSON object: the message parsed when it is JSON."""
    moment = datetime.fromtimestamp(event.timestamp_ms / 1000, UTC)
    record = _json_object(event.message)
    return json.dumps(
        {
            "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "source": event.source,
            "eventId": event.event_id,
            "message": record if record is not None else event.message.rstrip("\n"),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def render_short(event: LogEvent) -> Text | None:
    """The short line of an event; None for the runtime's bookkeeping."""
    if is_bookkeeping(event):
        return None
    moment = datetime.fromtimestamp(event.timestamp_ms / 1000, UTC)
    line = Text(moment.strftime("%H:%M:%S.") + f"{event.timestamp_ms % 1000:03d} ", style="dim")
    line.append(f"{event.source:<6} ", style="cyan")
    record = _json_object(event.message)
    if record is None:
        line.append(event.message.rstrip("\n"))
        return line
    if event.source == Source.API.value:
        line.append(" ".join(f"{key}={_field(record[key])}" for key in SHORT_API_FIELDS if record.get(key) is not None))
        return line
    return _append_record(line, {key: value for key, value in record.items() if key not in SHORT_HIDDEN_FIELDS})


def render(event: LogEvent) -> Text:
    """One event as one readable line (plus an indented traceback, if the event carries one)."""
    moment = datetime.fromtimestamp(event.timestamp_ms / 1000, UTC)
    line = Text(moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{event.timestamp_ms % 1000:03d}Z ", style="dim")
    line.append(f"{event.source:<6} ", style="cyan")
    record = _json_object(event.message)
    if record is None:
        line.append(event.message.rstrip("\n"))
        return line
    return _append_record(line, record)


def _append_record(line: Text, record: dict[str, Any]) -> Text:
    level = str(record.get("level") or "").upper()
    if level:
        line.append(f"{level:<7} ", style=LEVEL_STYLES.get(level, ""))
    message = record.get("message")
    if message is not None:
        line.append(str(message), style="bold")
    fields = [
        f"{key}={_field(value)}"
        for key, value in record.items()
        if key not in _SHOWN_KEYS and key != "exception" and value is not None
    ]
    if fields:
        line.append(("  " if message is not None else "") + " ".join(fields))
    if record.get("exception"):
        line.append("\n" + "\n".join(f"    {part}" for part in str(record["exception"]).splitlines()), style="red")
    return line


def tail(
    client: CloudWatchLogsClient,
    *,
    groups: Mapping[str, str],
    start_ms: int,
    pattern: str | None,
    follow: bool,
    interval_s: float,
    log_format: LogFormat = LogFormat.DETAILED,
    selection: Selection | None = None,
) -> None:
    seen: dict[tuple[str, str], int] = {}
    while True:
        events = fetch(client, groups, start_ms, pattern)
        fresh = [event for event in events if (event.source, event.event_id) not in seen]
        _print([event for event in fresh if selection.matches(event)] if selection else fresh, log_format)
        if not follow:
            return
        for event in fresh:
            seen[(event.source, event.event_id)] = event.timestamp_ms
        if seen:
            start_ms = max(start_ms, max(seen.values()) - LATE_ARRIVAL_WINDOW_MS)
            # Ids older than the window can never come back: forget them, so memory stays bounded.
            seen = {key: stamp for key, stamp in seen.items() if stamp >= start_ms}
        time.sleep(interval_s)


def _print(events: Iterable[LogEvent], log_format: LogFormat) -> None:
    for event in events:
        if log_format is LogFormat.JSON:
            out.print(json_record(event), markup=False, highlight=False, emoji=False)
        elif log_format is LogFormat.SHORT:
            line = render_short(event)
            if line is not None:
                out.print(line, emoji=False)
        else:
            out.print(render(event), emoji=False)


def _json_object(message: str) -> dict[str, Any] | None:
    text = message.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _field(value: object) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def command(
    *,
    env: EnvOption = None,
    since: Annotated[
        str, typer.Option("--since", "-s", help="Start this long ago (30s, 10m, 2h, 1d) or at an ISO 8601 time.")
    ] = DEFAULT_SINCE,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", "-f/-F", help="Keep polling for new events (Ctrl-C stops).")
    ] = True,
    pattern: Annotated[
        str | None,
        typer.Option("--filter", metavar="PATTERN", help="A CloudWatch Logs filter pattern, e.g. ERROR or '\"push\"'."),
    ] = None,
    source: Annotated[Source, typer.Option("--source", help="Which log groups to show.")] = Source.ALL,
    interval: Annotated[
        float,
        typer.Option(
            "--interval", metavar="SECONDS", min=MIN_POLL_INTERVAL_S, help="Seconds between polls when following."
        ),
    ] = DEFAULT_POLL_INTERVAL_S,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--format",
            help="short: no START/END/REPORT, API lines cut to what happened; detailed: everything; json: JSON Lines.",
        ),
    ] = LogFormat.SHORT,
    connection: Annotated[
        str | None,
        typer.Option("--connection", metavar="ID", help="Only the lines about this connection id."),
    ] = None,
    request: Annotated[
        str | None,
        typer.Option("--request", metavar="ID", help="Only the lines of this request id (Lambda's or API Gateway's)."),
    ] = None,
) -> None:
    """Show the Lambda's and the API's logs, interleaved in time order; JSON lines shown readably."""
    for name, value in (("--connection", connection), ("--request", request)):
        if value is not None and not value.strip():
            raise InputError(f"{name} needs an id")
    start_ms = parse_since(since, datetime.now(UTC))
    outputs = load_outputs(resolve_env(env))
    groups = log_groups(outputs, source)
    try:
        tail(
            logs_client(outputs),
            groups=groups,
            start_ms=start_ms,
            pattern=pattern,
            follow=follow,
            interval_s=interval,
            log_format=log_format,
            selection=Selection(connection, request),
        )
    except KeyboardInterrupt:
        # Ctrl-C is how a user ends following: a normal exit, not a failure.
        return
