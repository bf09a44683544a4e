"""The local stack in a child process of its own, for benchmarks: `StackProcess(latency_ms=20, ...)`.

`util local up` takes no function environment (a benchmark passes `SHARD_SIZE` through it), so the child
runs `util.local.stack.LocalStack` with any `StackSettings` field given as JSON. The parent gets the stack's
outputs, its resident memory (stack process, embedded moto's process and the Lambda workers together) and
the number of connections in the connection store (S3 in the embedded moto).

Child: `python -m bench.stack_process '{"port": 0, "latency_ms": 20}'`: replies `{"outputs": {...}, "credentials":
{...}}` once
serving, stops when its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import IO, Any

from util.local.aws.credentials import LocalCredentials

from .children import ChildProcess, command_line, cpu_seconds, process_tree, reply_channel, rss_bytes, send
from .report import BenchError

STACK_START_TIMEOUT_S = 120.0
ROLES = ("workers", "gateway", "moto")
MOTO_MODULE = "util.local.aws.moto_process"
STORE_POLL_S = 0.2
BENCH_WORKSPACE = "bench"
"""The stack's resources are named `wspush-bench-*`: never mistaken for a developer's `local` stack."""


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: round(after[role] - before[role], 3) for role in after}


class StackProcess:
    """A running local stack in a child process; a context manager that always stops it."""

    def __init__(self, **settings: Any) -> None:
        self.settings = {"port": 0, "workspace": BENCH_WORKSPACE, "state_path": None, **settings}
        self.outputs: dict[str, str] = {}
        self.credentials: LocalCredentials | None = None
        """The stack's own credentials: its Lambda API and `@connections` accept no others."""
        self._child: ChildProcess | None = None
        self._store: Any = None

    def __enter__(self) -> StackProcess:
        self._child = ChildProcess("bench.stack_process", json.dumps(self.settings), name="stack")
        try:
            reply = self._child.read(STACK_START_TIMEOUT_S)
            self.outputs = reply["outputs"]
            self.credentials = LocalCredentials.from_state(reply["credentials"])
        except BaseException:
            self._child.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._child is not None:
            self._child.stop()
            self._child = None

    @property
    def pid(self) -> int:
        if self._child is None:
            raise BenchError("the stack is not running")
        return self._child.pid

    def rss_bytes(self) -> int:
        """Resident memory of the stack process and all it started (embedded moto, the Lambda workers)."""
        return rss_bytes(process_tree(self.pid))

    def cpu_seconds(self) -> float:
        """CPU time used so far by the stack process (gateway), its embedded moto and its workers together."""
        return cpu_seconds(process_tree(self.pid))

    def cpu_by_role(self) -> dict[str, float]:
        """CPU time so far per role: `gateway` (the stack's own process: WebSocket gateway, `@connections`,
        Lambda API, runtime dispatch, log shipping), `moto` (S3, SNS, SQS, Logs) and `workers` (the function)."""
        split = dict.fromkeys(ROLES, 0.0)
        for pid in process_tree(self.pid):
            command = command_line(pid)
            role = "gateway" if pid == self.pid else "moto" if MOTO_MODULE in command else "workers"
            split[role] += cpu_seconds([pid])
        return split

    def process_count(self) -> int:
        """The stack process, its embedded moto and its Lambda workers."""
        return len(process_tree(self.pid))

    def stored_connections(self) -> int:
        """Connections in the store right now: what a broadcast reaches."""
        return sum(1 for _ in self._connection_store().connection_ids())

    def wait_for_stored(self, count: int, timeout_s: float) -> float:
        """Wait until the store holds exactly `count` connections (`$disconnect`s run after the close)."""
        started = time.monotonic()
        while (stored := self.stored_connections()) != count:
            if time.monotonic() - started > timeout_s:
                raise BenchError(f"the store holds {stored} connections, not {count}, after {timeout_s:g} s")
            time.sleep(STORE_POLL_S)
        return time.monotonic() - started

    def function_log_records(self, since_ms: int) -> list[dict[str, Any]]:
        """The function's JSON log lines (its own, not START/END/REPORT) shipped to CloudWatch since `since_ms`."""
        logs = self._client("logs")
        records = []
        paginator = logs.get_paginator("filter_log_events")
        for page in paginator.paginate(logGroupName=self.outputs["lambda_log_group"], startTime=since_ms):
            for event in page.get("events", []):
                try:
                    record = json.loads(event["message"])
                except ValueError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
        return records

    def _connection_store(self) -> Any:
        if self._store is None:
            from util.local.aws.resources import store_for_outputs

            self._store = store_for_outputs(self.outputs, self.credentials)
        return self._store

    def _client(self, service: str) -> Any:
        from util.local.aws.resources import moto_of

        return moto_of(self.outputs, self.credentials).client(service)


async def _serve(raw_settings: dict[str, Any], channel: IO[bytes]) -> None:
    from pathlib import Path

    from util.errors import describe
    from util.local.settings import StackSettings
    from util.local.stack import LocalStack

    if raw_settings.get("code_dir"):
        raw_settings["code_dir"] = Path(raw_settings["code_dir"])
    try:
        stack = LocalStack(StackSettings(**raw_settings))
    except Exception as error:  # unknown fields (TypeError) or values the settings refuse (InputError)
        send(channel, {"error": f"bad stack settings: {describe(error)}"})
        return
    try:
        try:
            outputs = await stack.start()
        except Exception as error:
            send(channel, {"error": f"the local stack did not start: {describe(error)}"})
            return
        send(channel, {"outputs": outputs, "credentials": stack.credentials.to_state()})
        # Anything on stdin, or its end, means stop.
        await asyncio.to_thread(sys.stdin.buffer.readline)
    finally:
        await stack.stop()


def main() -> None:
    channel = reply_channel()
    if len(sys.argv) != 2:
        send(channel, {"error": "usage: python -m bench.stack_process SETTINGS_JSON"})
        sys.exit(2)
    asyncio.run(_serve(json.loads(sys.argv[1]), channel))


if __name__ == "__main__":
    main()
