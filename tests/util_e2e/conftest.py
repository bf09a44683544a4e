"""Fixtures of the end-to-end tests: one `util local up` process for the package, `util` run as a user runs it.

The stack runs the real handler (`lambda_src.app.handler`) with its state file in a temporary directory;
every `util` process gets `WSPUSH_LOCAL_STATE` pointing there and nothing else of the developer's shell.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.stack_harness import LocalUp
from tests.util.conftest import Result, run_util

from .connect_client import ConnectClient
from .local_up import start_local_up, stop_local_up_process

UTIL_TIMEOUT_S = 30.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here runs `util local up` as a process: the `stack` tier."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.stack)


UtilRunner = Callable[..., Result]
ClientStarter = Callable[..., ConnectClient]


@pytest.fixture(scope="package")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    stack = start_local_up(tmp_path_factory.mktemp("local-up"))
    try:
        yield stack
    finally:
        stop_local_up_process(stack.process)


@pytest.fixture
def util(local_up: LocalUp) -> UtilRunner:
    """Run `util ARGS...` against the running stack, bounded in time."""

    def runner(*args: str, stdin: str | None = None, timeout_s: float = UTIL_TIMEOUT_S) -> Result:
        return run_util(list(args), local_up.env, stdin=stdin, timeout_s=timeout_s)

    return runner


@pytest.fixture
def connect(local_up: LocalUp) -> Iterator[ClientStarter]:
    """Start `util connect ARGS...` in the background; whatever is still running at the end is killed."""
    clients: list[ConnectClient] = []

    def start(*args: str, typed: bool = False) -> ConnectClient:
        client = ConnectClient(local_up.env, args, typed=typed)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
