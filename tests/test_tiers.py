"""The test tiers hold: an unmarked test (the fast tier) cannot start a subprocess; a marked one may."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import UnmarkedSubprocess


def test_an_unmarked_test_cannot_start_a_subprocess() -> None:
    with pytest.raises(UnmarkedSubprocess, match="carries no tier marker"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)


@pytest.mark.stack
def test_a_test_marked_stack_may_start_one() -> None:
    assert subprocess.run([sys.executable, "-c", "pass"], check=False).returncode == 0


def test_tests_using_the_moto_server_are_in_the_stack_tier(request: pytest.FixtureRequest) -> None:
    from .conftest import FIXTURE_TIERS

    assert FIXTURE_TIERS["moto_endpoint"] == "stack"
    assert request.node.get_closest_marker("stack") is None
