"""The reliability suite's stacks: `util local up` child processes shared by the whole session.

`stack` is configured as production is (a connect token, four warm workers) but for the per-connection message
limit, at its highest (`MESSAGE_LIMITS`); `faulty_stack` answers a
tenth of `@connections` calls 500 or 429. Each test starts from an empty connection store and closes
its clients, so tests share a stack without seeing each other.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from lambda_src.config import MAX_FANOUT_BUDGET_PER_S, MAX_MESSAGE_BURST, MAX_MESSAGE_RATE_PER_S

from .moto_state import wait_for_store
from .stack_process import StackProcess, stack_process

TOKEN = f"rel-{secrets.token_urlsafe(18)}"
"""The session's connect token: random, so finding it in a log line can only mean it leaked."""
FAULT_RATE = 0.1
EMPTY_STORE_TIMEOUT_S = 30.0
MESSAGE_LIMITS = [
    *("--message-rate", f"{MAX_MESSAGE_RATE_PER_S:g}", "--message-burst", str(MAX_MESSAGE_BURST)),
    *("--fanout-budget", f"{MAX_FANOUT_BUDGET_PER_S:g}"),
]
"""The load, fuzz and slow-client tests send hundreds of frames per connection as fast as they can: they test
delivery, so the per-connection limit and the fan-out budget are at their highest (and still in the path: a store
read and write a message)."""


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    with stack_process(tmp_path_factory.mktemp("stack"), ["--workers", "4", *MESSAGE_LIMITS], token=TOKEN) as process:
        yield process


@pytest.fixture(scope="session")
def faulty_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    options = ["--fault-rate", str(FAULT_RATE), "--workers", "3", *MESSAGE_LIMITS]
    with stack_process(tmp_path_factory.mktemp("faulty"), options) as process:
        yield process


def require_empty_store(stack: StackProcess) -> None:
    """A test's precondition: no connection left over from an earlier test (their `$disconnect`s have run)."""
    left = wait_for_store(stack.outputs, set(), EMPTY_STORE_TIMEOUT_S)
    assert left == set(), f"connections left over from an earlier test: {sorted(left)[:5]}"
