"""The worker groups of `make test` (tests/parallel.py): every module that shares a session or package fixture
runs on the worker that holds it, and the controller reads node ids as the workers write them."""

from __future__ import annotations

import pytest

from . import parallel
from .conftest import DESELECTED


def collected(request: pytest.FixtureRequest) -> list[pytest.Item]:
    """Everything this run collected, what `-m` deselected included (`make test-fast` collects the whole suite)."""
    return [*request.session.items, *DESELECTED]


def test_every_module_sharing_a_session_or_package_fixture_is_in_one_group(request: pytest.FixtureRequest) -> None:
    assert parallel.ungrouped_shares(collected(request)) == {}


def test_without_the_table_the_modules_sharing_a_fixture_would_be_split(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: with no shared groups, each table group the run collected two modules of shows."""
    items = collected(request)
    modules = {parallel.module_of(item) for item in items}
    split = {group for group, members in parallel.SHARED_FIXTURE_GROUPS.items() if len(modules & set(members)) > 1}
    monkeypatch.setattr(parallel, "_GROUP_OF_MODULE", {})

    reported = parallel.ungrouped_shares(items)

    found = {
        group
        for group, members in parallel.SHARED_FIXTURE_GROUPS.items()
        if any(set(users) <= set(members) for users in reported.values())
    }
    assert found == split


def test_every_module_the_table_names_exists() -> None:
    for modules in parallel.SHARED_FIXTURE_GROUPS.values():
        for module in modules:
            assert (parallel.TESTS_DIR / module).is_file(), module


def test_the_controller_finds_the_group_in_a_node_id_as_pytest_writes_it(request: pytest.FixtureRequest) -> None:
    assert parallel.group_of_nodeid(request.node.nodeid) == "test_parallel.py"
    assert parallel.group_of_nodeid("tests/reliability/test_load.py::test_x[a::b]") == "reliability"
    assert parallel.group_of_nodeid("tests/util_e2e/test_outputs.py::test_y") == "util_e2e/local_up"
    assert parallel.group_of_nodeid("tests/util_e2e/test_operations.py::test_z") == "util_e2e/test_operations.py"


def test_groups_are_ranked_by_their_directory_and_an_unlisted_one_goes_last() -> None:
    ranks = [parallel.rank(group) for group in ("terraform/moto", "reliability", "lambda_src/test_store.py")]
    assert ranks == sorted(ranks)
    assert parallel.rank("test_parallel.py") == len(parallel.LONGEST_FIRST)
