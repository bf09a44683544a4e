"""`terraform test`: the mocked specification files, in two workspaces, and the apply against moto."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .moto_clients import moto_client
from .paths import DEPLOYMENT_DIR
from .workdir import BackgroundRun, Workdir

MOCKED_TEST_TIMEOUT_S = 480.0
"""Some 40 mocked runs: about 40 s of CPU, 110-160 s of wall time beside another test worker on 2 cores, and
past 240 s at load 17 (2026-12-07, three runs): the bound catches a hang, not a slow machine."""
MOTO_TEST_TIMEOUT_S = 360.0
"""Two runs now (the S3 stack, then switched to the DynamoDB store) and the destroy; on a loaded 2-core machine."""
OTHER_WORKSPACE = "staging"


def run_summary(stdout: str) -> tuple[int, int, int]:
    """(passed, failed, skipped) from terraform test's closing line."""
    match = re.search(r"(\d+) passed, (\d+) failed(?:, (\d+) skipped)?\.", stdout)
    assert match, f"no summary in terraform test output:\n{stdout}"
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def count_runs(directory: Path) -> int:
    return sum(
        len(re.findall(r'^run "', path.read_text(encoding="utf-8"), re.MULTILINE))
        for path in directory.glob("*.tftest.hcl")
    )


@pytest.mark.timeout(MOCKED_TEST_TIMEOUT_S + 30)
def test_mocked_specification_passes(offline_workdir: Workdir) -> None:
    result = offline_workdir.run("test", timeout_s=MOCKED_TEST_TIMEOUT_S, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    # Every run block of the default test directory passed; none was skipped after a failure.
    assert run_summary(result.stdout) == (count_runs(DEPLOYMENT_DIR / "tests"), 0, 0)
    assert "tests/moto/" not in result.stdout, "the moto run must stay out of the default test directory"


def test_names_follow_another_workspace(offline_workdir: Workdir) -> None:
    result = offline_workdir.run(
        "test",
        "-filter=tests/names.tftest.hcl",
        "-verbose",
        workspace=OTHER_WORKSPACE,
        timeout_s=MOCKED_TEST_TIMEOUT_S,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert run_summary(result.stdout) == (2, 0, 0)
    # -verbose prints the planned state: the names really carry the selected workspace.
    assert f'"wspush-{OTHER_WORKSPACE}-handler"' in result.stdout
    assert f'"acme-{OTHER_WORKSPACE}-connections-123456789012"' in result.stdout


@pytest.mark.timeout(MOTO_TEST_TIMEOUT_S + 30)
def test_apply_against_moto_passes_and_destroys_everything(
    moto_terraform_test: BackgroundRun, moto_endpoint: str
) -> None:
    result = moto_terraform_test.wait(MOTO_TEST_TIMEOUT_S)

    assert result.returncode == 0, result.stdout + result.stderr
    assert run_summary(result.stdout) == (count_runs(DEPLOYMENT_DIR / "tests" / "moto"), 0, 0)
    # terraform test destroys what it applied: nothing of the `default` workspace is left in moto.
    functions = [f["FunctionName"] for f in moto_client("lambda", moto_endpoint).list_functions()["Functions"]]
    buckets = [b["Name"] for b in moto_client("s3", moto_endpoint).list_buckets()["Buckets"]]
    tables = moto_client("dynamodb", moto_endpoint).list_tables()["TableNames"]
    assert "wspush-default-handler" not in functions
    assert "wspush-default-connections-123456789012" not in buckets
    assert "wspush-default-connections" not in tables


def test_workspace_unfit_for_a_bucket_name_is_refused_with_a_clear_message(offline_workdir: Workdir) -> None:
    result = offline_workdir.run(
        "test", "-filter=tests/names.tftest.hcl", workspace="Not_A_Bucket", timeout_s=MOCKED_TEST_TIMEOUT_S, check=False
    )

    assert result.returncode == 1
    assert 'The bucket name "wspush-Not_A_Bucket-connections-123456789012" is not valid for S3' in " ".join(
        (result.stdout + result.stderr).split()
    )
