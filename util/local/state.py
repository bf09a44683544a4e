"""The local stacks' state: one record per running stack, and the "current" file `--env local` reads.

- The current file (`$WSPUSH_LOCAL_STATE`, else `~/.local/state/wspush/local-stack.json`) holds the
  outputs of one stack as one JSON object: what every `util ... --env local` command reads.
- Next to it, `local-stack.d/PORT.json` records each stack that `util local up` started: its pid, port,
  log file and outputs. `--env local:PORT` reads one of these; `util local status` lists them.

A stack takes the current file only if it is absent or describes a stack that is gone, so a second
stack never redirects the first one's commands. A record is alive when its process exists and its port
answers: a stack killed with SIGKILL leaves a record that reads as stale, never as running.

Only the standard library here: `util.environments` imports this module on every `--env local` command.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RECORDS_DIR_SUFFIX = ".d"
RECORD_FILE_MODE = 0o600
PORT_PROBE_TIMEOUT_S = 0.5
PORT_OUTPUT = "lambda_endpoint_url"
"""The output whose port is the stack's one origin (WebSocket, @connections and the Lambda API)."""
PROBED_OUTPUT = "aws_endpoint_url"
"""moto, the stack's child: it answers exactly as long as the stack runs."""


class Liveness(StrEnum):
    RUNNING = "running"
    PROCESS_GONE = "stale: its process is gone"
    NOT_ANSWERING = "stale: nothing answers on its port"


@dataclass(frozen=True)
class StackRecord:
    """One stack started by `util local up`, as it recorded itself once ready."""

    pid: int
    port: int
    host: str
    outputs: dict[str, Any]
    log_path: str | None = None
    started_at: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "port": self.port,
            "host": self.host,
            "log_path": self.log_path,
            "started_at": self.started_at,
            "outputs": self.outputs,
        }

    @classmethod
    def from_json(cls, value: Any) -> StackRecord | None:
        if not isinstance(value, dict):
            return None
        pid, port, outputs = value.get("pid"), value.get("port"), value.get("outputs")
        if not isinstance(pid, int) or not isinstance(port, int) or not isinstance(outputs, dict):
            return None
        log_path = value.get("log_path")
        return cls(
            pid=pid,
            port=port,
            host=str(value.get("host") or "127.0.0.1"),
            outputs=outputs,
            log_path=log_path if isinstance(log_path, str) else None,
            started_at=str(value.get("started_at") or ""),
        )


def write_state(path: Path, outputs: Mapping[str, Any]) -> None:
    """Write the current file atomically (a reader never sees half a file), readable by the user only."""
    _write_json(path, dict(outputs))


def remove_state(path: Path, outputs: Mapping[str, Any]) -> None:
    """Remove the current file if it still describes this stack (another stack may have taken it over)."""
    current = read_json(path)
    if isinstance(current, dict) and current.get("api_id") == outputs.get("api_id"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def records_dir(current: Path) -> Path:
    return current.with_name(current.stem + RECORDS_DIR_SUFFIX)


def record_path(current: Path, port: int) -> Path:
    return records_dir(current) / f"{port}.json"


def write_record(current: Path, record: StackRecord) -> Path:
    path = record_path(current, record.port)
    _write_json(path, record.as_json())
    return path


def read_record(path: Path) -> StackRecord | None:
    return StackRecord.from_json(read_json(path))


def remove_record(current: Path, record: StackRecord) -> None:
    """Remove the record of `record`'s port if it is still this stack's (same pid)."""
    path = record_path(current, record.port)
    found = read_record(path)
    if found is not None and found.pid == record.pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def list_records(current: Path) -> list[StackRecord]:
    """Every readable record, by port."""
    directory = records_dir(current)
    if not directory.is_dir():
        return []
    records = [read_record(path) for path in directory.glob("*.json")]
    return sorted((record for record in records if record is not None), key=lambda record: record.port)


def output_port(outputs: Mapping[str, Any], name: str = PORT_OUTPUT) -> int | None:
    value = outputs.get(name)
    if not isinstance(value, str):
        return None
    try:
        return urlsplit(value).port
    except ValueError:
        return None


def record_of(current: Path, outputs: Mapping[str, Any]) -> StackRecord | None:
    """The record of the stack whose outputs these are (same port, same outputs), if it made one."""
    port = output_port(outputs)
    if port is None:
        return None
    record = read_record(record_path(current, port))
    return record if record is not None and record.outputs == dict(outputs) else None


def liveness(record: StackRecord) -> Liveness:
    if not pid_alive(record.pid):
        return Liveness.PROCESS_GONE
    if not port_answers(_probe_host(record.host), record.port):
        return Liveness.NOT_ANSWERING
    return Liveness.RUNNING


def outputs_answer(outputs: Mapping[str, Any]) -> bool:
    """For a current file without a record (a stack started in-process): does its moto still answer?"""
    value = outputs.get(PROBED_OUTPUT)
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    if parts.hostname is None or parts.port is None:
        return True
    return port_answers(parts.hostname, parts.port)


def current_is_live(current: Path) -> bool:
    """Whether the current file describes a stack that still runs (then no other stack may take it)."""
    outputs = read_json(current)
    if not isinstance(outputs, dict):
        return False
    record = record_of(current, outputs)
    if record is not None:
        return liveness(record) is Liveness.RUNNING
    return outputs_answer(outputs)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user's process
    return True


def is_local_stack_process(pid: int) -> bool:
    """Whether `pid` runs `util local up` (before signalling it: a pid may have been reused since).

    Read from /proc where there is one; elsewhere the port check of `liveness` is all there is.
    """
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not sys.platform.startswith("linux") or not cmdline.exists():
        return True
    try:
        words = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    return b"up" in words and any(b"util" in word for word in words)


def port_answers(host: str, port: int, timeout_s: float = PORT_PROBE_TIMEOUT_S) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _probe_host(host: str) -> str:
    # A stack listening on every address answers on loopback.
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.chmod(RECORD_FILE_MODE)
    temporary.replace(path)
