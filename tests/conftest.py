"""What every test suite shares: the test tiers, a real moto server on loopback, fake AWS credentials.

Tiers (markers registered in pyproject.toml): `make test-fast` runs every test without `stack`, `terraform` or
`browser`; `make test` runs them all. Marks come from three places: a whole directory whose tests all start a
stack (`STACK_DIRS`), a fixture that starts a server or runs terraform (`FIXTURE_TIERS`), or an explicit
`pytestmark`. A test with none of them may not start a subprocess at all: the guard below fails it, so a test
that starts a stack cannot slip into the fast tier unmarked.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from . import parallel
from .stack_harness import free_port, moto_server, wait_for_http

__all__ = ["free_port", "wait_for_http"]
"""Re-exported: tests import them from here."""

TESTS_DIR = Path(__file__).resolve().parent
TIERS = ("stack", "terraform", "browser")
STACK_DIRS = frozenset({"integration", "reliability", "util_e2e"})
"""Directories whose every test starts a local stack (in-process or as `util local up`)."""
FIXTURE_TIERS = {"moto_endpoint": "stack", "terraform_cli_config": "terraform"}
"""A test that uses one of these fixtures (directly or through another fixture) is in that tier."""


class UnmarkedSubprocess(RuntimeError):
    """A test outside every tier marker started a subprocess."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: the marks must be on the items before `-m` deselects by them.
    for item in items:
        parts = item.path.resolve().relative_to(TESTS_DIR).parts
        if parts and parts[0] in STACK_DIRS:
            item.add_marker(pytest.mark.stack)
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, tier in FIXTURE_TIERS.items():
            if fixture in fixtures:
                item.add_marker(getattr(pytest.mark, tier))
    if hasattr(config, "workerinput"):  # an xdist worker: the longest groups go first (tests/parallel.py)
        parallel.sort_longest_first(items)


DESELECTED: list[pytest.Item] = []
"""What `-m`/`-k` left out of this run: test_parallel.py checks the worker groups against the whole collection."""


def pytest_deselected(items: Sequence[pytest.Item]) -> None:
    DESELECTED.extend(items)


def pytest_configure(config: pytest.Config) -> None:
    # The controller of an xdist run (`scripts/run-tests`) schedules by group; workers carry `workerinput`.
    if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(parallel.XdistPlugin(), "wspush-parallel")


def in_a_tier(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(tier) is not None for tier in TIERS)


_unmarked_test: list[str] = []
"""The node id of the unmarked test running now, if any (a list: the audit hook reads it without `global`)."""
SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.spawn", "os.exec", "os.fork"})


def _refuse_spawns(event: str, args: tuple[Any, ...]) -> None:
    # An audit hook (PEP 578) sees every way Python starts a process, asyncio's and multiprocessing's included.
    if _unmarked_test and event in SPAWN_EVENTS:
        raise UnmarkedSubprocess(
            f"{_unmarked_test[0]} started a subprocess ({event} {str(args)[:120]}) but carries no tier marker: "
            "mark it `stack` (or `terraform`, `browser`) so that `make test-fast` leaves it out"
        )


sys.addaudithook(_refuse_spawns)


@contextmanager
def subprocesses_refused(item: pytest.Item) -> Iterator[None]:
    """While an unmarked test sets up or runs, starting any subprocess raises `UnmarkedSubprocess`."""
    if in_a_tier(item):
        yield
        return
    _unmarked_test.append(item.nodeid)
    try:
        yield
    finally:
        _unmarked_test.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with subprocesses_refused(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with subprocesses_refused(item):
        return (yield)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """URL of a moto server (S3, SNS, SQS, Logs, Lambda, IAM, ...) for the whole session (`stack_harness`)."""
    with moto_server() as url:
        yield url


@pytest.fixture(autouse=True)
def _aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real account: fake credentials and a fixed region everywhere."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
