"""How `make test` runs on two pytest-xdist workers without starting any stack or apply twice.

`scripts/run-tests` runs `-n 2 --dist loadscope`, and `GroupScheduling` (registered by tests/conftest.py when
xdist runs) makes a *group* the unit xdist hands to one worker, instead of a module:

- every test module is a group of its own, so each module-scoped fixture (a stack, an apply) starts once;
- `SHARED_FIXTURE_GROUPS` joins the modules that use one of our session- or package-scoped fixtures, which every
  worker would otherwise start for itself (the reliability suite's two `util local up` stacks, util_e2e's
  `util local up`, the background `terraform test` that overlaps the apply). `test_parallel.py` fails when a
  module uses such a fixture and its group is not in that table (`ungrouped_shares`).

xdist's own `loadgroup` cannot do this here: it renames each test's node id, which pytest 9 no longer allows.

xdist hands out groups in collection order, so each worker sorts its collection longest group first (`rank`): a
long group handed out last would run alone at the end while the other worker idles. The order only balances the
two workers; what runs where follows from the groups alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

TESTS_DIR = Path(__file__).resolve().parent
SHARED_SCOPES = frozenset({"session", "package"})
PER_WORKER_FIXTURES = frozenset({"moto_endpoint", "terraform_cli_config", "offline_workdir"})
"""Session fixtures each worker may well start for itself: a moto server (~2 s), a CLI config file, one offline
`terraform init` (~1 s). Joining every module that uses them would leave a worker idle."""
SHARED_FIXTURE_GROUPS: dict[str, tuple[str, ...]] = {
    # `stack` and `faulty_stack` (session): `util local up` with four and three warm workers.
    "reliability": (
        "reliability/test_connect_token.py",
        "reliability/test_dead_clients.py",
        "reliability/test_faults.py",
        "reliability/test_gateway_fuzz.py",
        "reliability/test_listen_address.py",
        "reliability/test_load.py",
        "reliability/test_slow_client.py",
    ),
    # `local_up` (package): one `util local up` for these modules.
    "util_e2e/local_up": (
        "util_e2e/test_connect_recovery.py",
        "util_e2e/test_lambda_deploy.py",
        "util_e2e/test_outputs.py",
        "util_e2e/test_send_data.py",
        "util_e2e/test_tail_logs.py",
    ),
    # `moto_terraform_test` (session): `terraform test` in the background, overlapping the apply.
    "terraform/moto": ("terraform/test_apply_moto.py", "terraform/test_terraform_test.py"),
}
"""Groups of modules that must run on one worker: each shares a session/package fixture that starts something."""
LONGEST_FIRST = ("terraform", "reliability", "util_e2e", "integration", "browser", "bench", "util", "lambda_src")
"""The test directories by how long their groups run (`--durations`): the groups of a directory earlier here start
first; a directory not listed comes last."""

_GROUP_OF_MODULE = {module: group for group, modules in SHARED_FIXTURE_GROUPS.items() for module in modules}


def module_of(item: pytest.Item) -> str:
    """The module's path under tests/, as node ids and `SHARED_FIXTURE_GROUPS` write it."""
    return item.path.resolve().relative_to(TESTS_DIR).as_posix()


def group_of_module(module: str) -> str:
    return _GROUP_OF_MODULE.get(module, module)


def group_of_nodeid(nodeid: str) -> str:
    """The group of a node id as the controller sees it (`tests/reliability/test_load.py::test_x[a]`)."""
    module = nodeid.split("::", 1)[0].removeprefix("tests/")
    return group_of_module(module)


def rank(group: str) -> int:
    directory = group.split("/", 1)[0]
    return LONGEST_FIRST.index(directory) if directory in LONGEST_FIRST else len(LONGEST_FIRST)


def sort_longest_first(items: list[pytest.Item]) -> None:
    """Stable: inside a directory, the collection order stays."""
    items.sort(key=lambda item: rank(group_of_module(module_of(item))))


class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no type information
    """xdist's loadscope with a group (see the module's docstring) as the scope."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of_nodeid(nodeid)


class XdistPlugin:
    """Registered on the controller of an xdist run (tests/conftest.py)."""

    @pytest.hookimpl(tryfirst=True)  # before xdist's own, which answers for every --dist
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> GroupScheduling | None:
        if config.getvalue("dist") != "loadscope":
            return None
        return GroupScheduling(config, log)


# -- the check that SHARED_FIXTURE_GROUPS is complete (test_parallel.py) ---------------------------------------------


def shared_fixtures(item: pytest.Item) -> set[str]:
    """The session/package fixtures defined in tests/ that `item` uses, directly or through other fixtures, as
    `baseid::name` (two fixtures of one name in different conftests are different fixtures)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return set()
    shared: set[str] = set()
    for name, definitions in info.name2fixturedefs.items():
        if not definitions or name in PER_WORKER_FIXTURES:
            continue
        definition = definitions[-1]  # the one this item gets (the closest override)
        if definition.scope in SHARED_SCOPES and _defined_in_tests(definition.func):
            shared.add(f"{definition.baseid}::{name}")
    return shared


def _defined_in_tests(function: object) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and TESTS_DIR in Path(code.co_filename).resolve().parents


def ungrouped_shares(items: Iterable[pytest.Item]) -> dict[str, list[str]]:
    """{fixture: the groups of the modules using it} for each shared fixture whose users are not in one group."""
    users: dict[str, set[str]] = {}
    for item in items:
        for fixture in shared_fixtures(item):
            users.setdefault(fixture, set()).add(group_of_module(module_of(item)))
    return {fixture: sorted(groups) for fixture, groups in users.items() if len(groups) > 1}


def groups_in(items: Sequence[pytest.Item]) -> list[str]:
    """The groups of `items`, in the order xdist hands them out."""
    return list(dict.fromkeys(group_of_module(module_of(item)) for item in items))
