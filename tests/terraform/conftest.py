"""Fixtures for the Terraform tests: the offline CLI config and initialised copies of `deployment/`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .mirror import MirrorNotFound, write_cli_config
from .workdir import TERRAFORM_BINARY, BackgroundRun, Workdir, prepare


@pytest.fixture(scope="session")
def terraform_cli_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLI config installing providers from the machine's mirror only (TF_CLI_CONFIG_FILE)."""
    if shutil.which(TERRAFORM_BINARY) is None:
        pytest.fail(f"`{TERRAFORM_BINARY}` is not on PATH: the Terraform tests need it", pytrace=False)
    try:
        return write_cli_config(tmp_path_factory.mktemp("terraform-cli"))
    except MirrorNotFound as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def offline_workdir(tmp_path_factory: pytest.TempPathFactory, terraform_cli_config: Path) -> Workdir:
    """An initialised copy of `deployment/` for commands that create no state: fmt, validate, mocked tests."""
    return prepare(tmp_path_factory.mktemp("offline") / "deployment", terraform_cli_config)


@pytest.fixture(scope="session")
def moto_terraform_test(
    tmp_path_factory: pytest.TempPathFactory, terraform_cli_config: Path, moto_endpoint: str
) -> Iterator[BackgroundRun]:
    """`terraform test` of deployment/tests/moto against the session's moto server, started in the background.

    Whoever asks first starts it: test_apply_moto.py asks before its own apply, so that the two
    overlap (that apply spends ~55 s waiting on S3); test_terraform_test.py waits for the result.
    They do not collide: this run uses the `default` workspace, that apply `ci`.
    """
    root = tmp_path_factory.mktemp("moto-terraform-test")
    workdir = prepare(root / "deployment", terraform_cli_config)
    run = workdir.start(
        "test",
        "-test-directory=tests/moto",
        # The stack does not declare moto_endpoint: Terraform reads such values as HCL, hence JSON quoting.
        "-var",
        f"moto_endpoint={json.dumps(moto_endpoint)}",
        log_dir=root / "logs",
    )
    try:
        yield run
    finally:
        run.stop()
