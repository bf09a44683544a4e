"""How `util connect` prints frames: `pretty` for people, `compact` and `json` for pipes.

- pretty: `< 12:34:56.789` (received) or `> ...` (sent) and the frame as syntax-highlighted JSON, on one
  line when it fits the terminal, indented below the marker when it does not.
- compact: each received frame on one line as it arrived (JSON re-serialised without spaces), nothing
  else on stdout: `util connect --listen 1 | jq` works.
- json: JSON Lines, one object per received frame: `{"time": ISO 8601, "frame": value}` (`"text"`
  instead of `"frame"` when the frame is not JSON, `"binary_bytes"` for a binary frame).
Sent frames are shown in pretty mode only: stdout of the other modes is what the server sent.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from typing import Any

from rich.json import JSON
from rich.text import Text

from .console import out

RECEIVED_MARKER = "<"
SENT_MARKER = ">"
RECOVERED_MARKER = "<~"
"""Marks a frame recovered from history after a reconnect (pretty output)."""
RECOVERED_PREFIX = "recovered "
"""Starts the line of a recovered frame in compact output (a frame line starts with `{` or is text)."""
PRETTY_INDENT = 2


class OutputFormat(StrEnum):
    PRETTY = "pretty"
    COMPACT = "compact"
    JSON = "json"


def default_format() -> OutputFormat:
    """pretty on a terminal, compact otherwise (a pipe, a file)."""
    return OutputFormat.PRETTY if sys.stdout is not None and sys.stdout.isatty() else OutputFormat.COMPACT


def stamp(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _parsed(data: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(data)
    except json.JSONDecodeError:
        return False, data


def compact_line(data: str | bytes) -> str:
    """The frame on one line: JSON without spaces, other text with its newlines escaped."""
    if isinstance(data, bytes):
        return f"<binary frame, {len(data)} bytes>"
    is_json, value = _parsed(data)
    if is_json:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return data.replace("\r", "\\r").replace("\n", "\\n")


def json_line(data: str | bytes, received_at: datetime) -> str:
    record: dict[str, Any] = {"time": received_at.isoformat(timespec="milliseconds")}
    if isinstance(data, bytes):
        record["binary_bytes"] = len(data)
    else:
        is_json, value = _parsed(data)
        record["frame" if is_json else "text"] = value
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def pretty(data: str | bytes, moment: datetime, marker: str, width: int) -> list[Text | JSON]:
    """The renderables of one frame in pretty mode (the marker and time are dim, the frame is not)."""
    head = Text(f"{marker} {stamp(moment)} ", style="dim")
    if isinstance(data, bytes):
        return [head + Text(f"<binary frame, {len(data)} bytes>", style="italic")]
    is_json, value = _parsed(data)
    if not is_json:
        return [head + Text(data)]
    one_line = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if len(head) + len(one_line) <= width:
        return [head + JSON(one_line, indent=None).text]
    head.rstrip()
    return [head, JSON(one_line, indent=PRETTY_INDENT)]


class FramePrinter:
    """Prints frames in one `OutputFormat` to stdout."""

    def __init__(self, output: OutputFormat) -> None:
        self.output = output

    def received(self, data: str | bytes, moment: datetime) -> None:
        if self.output is OutputFormat.COMPACT:
            out.print(compact_line(data), markup=False, highlight=False)
        elif self.output is OutputFormat.JSON:
            out.print(json_line(data, moment), markup=False, highlight=False)
        else:
            for part in pretty(data, moment, RECEIVED_MARKER, out.width):
                out.print(part)

    def recovered(self, data: str, moment: datetime) -> None:
        """A frame missed while disconnected, fetched from the room's history: marked as such in every format."""
        if self.output is OutputFormat.COMPACT:
            out.print(RECOVERED_PREFIX + compact_line(data), markup=False, highlight=False)
        elif self.output is OutputFormat.JSON:
            record = json.loads(json_line(data, moment))
            record["recovered"] = True
            out.print(json.dumps(record, ensure_ascii=False, separators=(",", ":")), markup=False, highlight=False)
        else:
            for part in pretty(data, moment, RECOVERED_MARKER, out.width):
                out.print(part)

    def sent(self, data: str, moment: datetime) -> None:
        if self.output is OutputFormat.PRETTY:
            for part in pretty(data, moment, SENT_MARKER, out.width):
                out.print(part, style="dim")
