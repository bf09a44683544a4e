"""What the stack left in its moto: the connection store (read through `ConnectionStore`, whichever store the
stack runs) and the two log groups (CloudWatch Logs).

These are the tests' witnesses: a message is "delivered" when a client read it, a connection is "gone" when
the store no longer lists it, and "no exception" means no failure marker in any line of the Lambda's log group.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from lambda_src.store.contract import ConnectionStore
from util.local.aws.resources import moto_of, store_for_outputs

LOG_SETTLE_S = 0.6
"""Three of the stack's 200 ms shipping intervals: a count unchanged this long has been shipped whole."""
LOG_WAIT_TIMEOUT_S = 30.0
FAILURE_MARKERS = (
    "invocation failed",
    "Traceback (most recent call last)",
    "[ERROR]",
    "Task timed out",
    "Runtime exited",
    "Runtime.ExitError",
)
"""What a handler exception, an unhandled error, a timeout or a crashed worker leaves in the Lambda's log group."""


def client(outputs: Mapping[str, Any], service: str) -> Any:
    """A client of the stack's moto, signed with the credentials of its state file (`outputs` is its document)."""
    return moto_of(outputs).client(service)


def store(outputs: Mapping[str, str]) -> ConnectionStore:
    return store_for_outputs(outputs)


def stored_connection_ids(outputs: Mapping[str, str]) -> set[str]:
    return set(store(outputs).connection_ids())


def wait_for_store(outputs: Mapping[str, str], expected: set[str], timeout_s: float) -> set[str]:
    """Poll until the stored ids are exactly `expected` (`$disconnect`s may still be running); returns the last."""
    deadline = time.monotonic() + timeout_s
    while True:
        stored = stored_connection_ids(outputs)
        if stored == expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.2)


def log_lines(outputs: Mapping[str, str], group_output: str, since_ms: int = 0) -> list[str]:
    """Every line of a log group (`lambda_log_group` or `api_log_group`) since `since_ms`, once shipping settled."""
    deadline = time.monotonic() + LOG_WAIT_TIMEOUT_S
    previous = _read_group(outputs, outputs[group_output], since_ms)
    while True:
        time.sleep(LOG_SETTLE_S)
        current = _read_group(outputs, outputs[group_output], since_ms)
        if len(current) == len(previous) or time.monotonic() > deadline:
            return current
        previous = current


def _read_group(outputs: Mapping[str, str], group: str, since_ms: int) -> list[str]:
    logs = client(outputs, "logs")
    lines: list[str] = []
    # AWS always interleaves the group's streams by timestamp (FilterLogEvents: `interleaved` "is ignored and the
    # value is assumed to be true"); moto returns them stream by stream unless asked, so lines of two workers
    # came back in worker order, not in time order.
    kwargs: dict[str, Any] = {"logGroupName": group, "startTime": since_ms, "interleaved": True}
    while True:
        page = logs.filter_log_events(**kwargs)
        lines.extend(event["message"] for event in page["events"])
        token = page.get("nextToken")
        if not token or not page["events"]:
            return lines
        kwargs["nextToken"] = token


def structured(lines: list[str]) -> list[dict[str, Any]]:
    """The handler's own JSON log lines (the runtime's START/END/REPORT lines are plain text; its metrics are EMF
    objects, keyed `_aws`, which CloudWatch turns into metrics rather than log lines)."""
    entries = []
    for line in lines:
        if line.startswith("{"):
            entry = json.loads(line)
            if isinstance(entry, dict) and "_aws" not in entry:
                entries.append(entry)
    return entries


def failures(lines: list[str]) -> list[str]:
    """Lines that show a failed invocation or a worse-than-warning log entry."""
    found = [line for line in lines if any(marker in line for marker in FAILURE_MARKERS)]
    found += [
        json.dumps(entry)
        for entry in structured(lines)
        if entry.get("level") in ("ERROR", "CRITICAL") and entry.get("message") != "invocation failed"
    ]
    return found


def fanout_summaries(lines: list[str]) -> list[dict[str, Any]]:
    return [entry for entry in structured(lines) if entry.get("message") == "fanout"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
