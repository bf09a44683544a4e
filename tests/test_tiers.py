"""The test tiers hold: an unmarked test (the fast tier) cannot start a subprocess; a marked one may."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import DESELECTED, UnmarkedSubprocess


def test_an_unmarked_test_cannot_start_a_subprocess() -> None:
    with pytest.raises(UnmarkedSubprocess, match="carries no tier marker"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


@pytest.mark.stack
def test_a_test_marked_stack_may_start_one() -> None:
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0


@pytest.fixture
def through_a_fixture(moto_endpoint: str) -> str:
    """The moto server reached through another fixture, as most suites reach it."""
    return moto_endpoint


def test_the_moto_server_answers_a_test_that_asks_for_it(through_a_fixture: str) -> None:
    assert through_a_fixture.startswith("http://127.0.0.1:")


def test_a_test_that_asks_for_the_moto_server_through_a_fixture_is_marked_stack_at_collection(
    request: pytest.FixtureRequest,
) -> None:
    # What the collection hook did to a real item of this run (kept or deselected by `-m`), not its table.
    collected = [*request.session.items, *DESELECTED]
    (item,) = [found for found in collected if found.name == "test_the_moto_server_answers_a_test_that_asks_for_it"]

    assert item.get_closest_marker("stack") is not None
    assert request.node.get_closest_marker("stack") is None
