"""Fixtures of the local stack's tests: stacks started in-process on free ports, real WebSocket clients.

Every stack gets its own workspace name, so two stacks alive in one process (moto keeps its state per
process) never share a bucket or topic. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Coroutine, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import ClientConnection, connect

from lambda_src.store.contract import ConnectionStore
from lambda_src.store.open import StoreKind
from tests import strict_json
from tests.stack_harness import running_stack as harness_running_stack
from util.local.aws.resources import moto_of, store_for_outputs
from util.local.settings import StackSettings
from util.local.stack import StackThread

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Holds both `lambda_src` and `tests`: the code directory of the test handlers."""
HANDLERS = "tests.integration.handlers.echo"
RECEIVE_TIMEOUT_S = 10.0
ASYNC_TEST_TIMEOUT_S = 60.0

T = TypeVar("T")
_workspaces = itertools.count(1)


def stack_settings(**overrides: Any) -> StackSettings:
    """Settings of a test stack: free port, two workers, no state file, a workspace of its own."""
    base = StackSettings(
        port=0,
        workers=2,
        timeout_s=10.0,
        handler=f"{HANDLERS}.gateway",
        code_dir=REPO_ROOT,
        workspace=f"itest{next(_workspaces)}",
        state_path=None,
    )
    return replace(base, **overrides)


STORE_IDS = [f"store={kind}" for kind in StoreKind]
"""`@pytest.fixture(scope="module", params=tuple(StoreKind), ids=STORE_IDS)`: a stack fixture run once per store.
Only the modules that run the real handler use it (test_end_to_end, test_sharding): the others run test handlers
that never touch the store, so a second store would only repeat them."""


def sharded_stack_settings(store: str, shard_size: int, workers: int) -> StackSettings:
    """A stack running the real handler on `store` with the function's `SHARD_SIZE` set."""
    return stack_settings(
        handler="lambda_src.app.handler",
        code_dir=None,
        workers=workers,
        store=store,
        function_environment={"SHARD_SIZE": str(shard_size)},
    )


def function_log_lines(stack: StackThread, since_ms: int, message: str) -> list[dict[str, Any]]:
    """The function's JSON log lines whose `message` is `message`, shipped to moto's CloudWatch since `since_ms`."""
    logs = moto_of(stack.outputs, stack.credentials).client("logs")
    found: list[dict[str, Any]] = []
    for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName=stack.outputs["lambda_log_group"], startTime=since_ms
    ):
        for event in page["events"]:
            try:
                line = json.loads(event["message"])
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("message") == message:
                found.append(line)
    return found


def stack_store(stack: StackThread) -> ConnectionStore:
    """The stack's connection store, read through `ConnectionStore` whatever its kind."""
    return store_for_outputs(stack.outputs, stack.credentials)


def run(coroutine: Coroutine[Any, Any, T], timeout_s: float = ASYNC_TEST_TIMEOUT_S) -> T:
    """Run an async test body on a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout_s))


async def recv_json(socket: ClientConnection, timeout_s: float = RECEIVE_TIMEOUT_S) -> Any:
    """The next frame, parsed strictly (`NaN` or a lone surrogate escape raises, as in a browser it would)."""
    return strict_json.loads(await asyncio.wait_for(socket.recv(), timeout_s))


async def open_socket(url: str, **kwargs: Any) -> ClientConnection:
    return await asyncio.wait_for(connect(url, open_timeout=RECEIVE_TIMEOUT_S, **kwargs), RECEIVE_TIMEOUT_S)


def running_stack(settings: StackSettings, **kwargs: Any) -> AbstractContextManager[StackThread]:
    """The stack in this process, stopped however the block ends (`tests.stack_harness.running_stack`)."""
    stack: AbstractContextManager[StackThread] = harness_running_stack(settings, **kwargs)
    return stack


class EventLog:
    """The events the `gateway` test handler recorded (it appends each one to `$EVENT_LOG`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    async def wait_for(self, connection_id: str, route: str, timeout_s: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            for event in self.events():
                context = event["requestContext"]
                if context["connectionId"] == connection_id and context["routeKey"] == route:
                    return event
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {route} event for {connection_id} within {timeout_s} s")
            await asyncio.sleep(0.05)


@dataclass
class GatewayStack:
    thread: StackThread
    events: EventLog

    @property
    def outputs(self) -> dict[str, str]:
        return self.thread.outputs


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    """The gateway with the `gateway` test handler; routes without `$default`, so unknown actions are Forbidden."""
    log = EventLog(tmp_path_factory.mktemp("events") / "events.jsonl")
    settings = stack_settings(
        routes=("$connect", "$disconnect", "echo", "slow", "boom"), function_environment={"EVENT_LOG": str(log.path)}
    )
    with running_stack(settings) as thread:
        yield GatewayStack(thread, log)
