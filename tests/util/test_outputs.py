"""`util outputs` and the environments behind every command: the local state file or a Terraform workspace."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from util.environments import OUTPUT_NAMES

from .conftest import StateWriter, UtilRunner, assert_one_line_error, run_util

TERRAFORM_TIMEOUT_S = 60
WORKSPACE_OUTPUTS: dict[str, Any] = {name: f"dev-{name}" for name in OUTPUT_NAMES} | {"region": "eu-west-1"}


def terraform(directory: Path, *args: str) -> None:
    subprocess.run(["terraform", *args], cwd=directory, check=True, capture_output=True, timeout=TERRAFORM_TIMEOUT_S)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Terraform directory (outputs only, so no provider is needed) with workspaces `dev` (applied),
    `empty` (never applied), and `default` selected."""
    directory = tmp_path_factory.mktemp("deployment")
    (directory / "outputs.tf").write_text(
        "\n".join(f'output "{name}" {{\n  value = "{value}"\n}}' for name, value in WORKSPACE_OUTPUTS.items())
    )
    terraform(directory, "init", "-input=false", "-no-color")
    terraform(directory, "workspace", "new", "empty")
    terraform(directory, "workspace", "new", "dev")
    terraform(directory, "apply", "-auto-approve", "-input=false", "-no-color")
    terraform(directory, "workspace", "select", "default")
    return directory


@pytest.fixture
def tf_env(util_env: dict[str, str], deployment: Path) -> dict[str, str]:
    return {**util_env, "WSPUSH_DEPLOYMENT_DIR": str(deployment)}


def test_outputs_json_prints_the_local_state_values_exactly(util: UtilRunner, local_stack: dict[str, str]) -> None:
    result = util("outputs", "--json")
    assert result.code == 0, result
    assert json.loads(result.stdout) == local_stack


def test_outputs_table_lists_every_output_in_contract_order(util: UtilRunner, local_stack: dict[str, str]) -> None:
    result = util("outputs", "local")
    assert result.code == 0, result
    rows = [line.split() for line in result.stdout.splitlines() if line.split() and line.split()[0] in local_stack]
    # An S3 stack: the null connections_table is absent, as from `terraform output`.
    shown = [name for name in OUTPUT_NAMES if name != "connections_table"]
    assert [row[0] for row in rows] == [*shown, "aws_endpoint_url", "lambda_endpoint_url"]
    assert {row[0]: row[1] for row in rows} == local_stack


def test_outputs_reads_a_terraform_workspace(tf_env: dict[str, str]) -> None:
    result = run_util(["outputs", "dev", "--json"], tf_env)
    assert result.code == 0, result
    assert json.loads(result.stdout) == WORKSPACE_OUTPUTS


def test_reading_a_workspace_leaves_the_selected_workspace_alone(tf_env: dict[str, str], deployment: Path) -> None:
    selected = (deployment / ".terraform" / "environment").read_text()
    assert run_util(["outputs", "-e", "dev", "--json"], tf_env).code == 0
    assert (deployment / ".terraform" / "environment").read_text() == selected == "default"


def test_an_unknown_workspace_is_an_error_and_is_not_created(tf_env: dict[str, str], deployment: Path) -> None:
    result = run_util(["outputs", "staging"], tf_env)
    assert_one_line_error(result, "no Terraform workspace 'staging'", "known: default, dev, empty", code=1)
    assert not (deployment / "terraform.tfstate.d" / "staging").exists()


def test_a_workspace_never_applied_has_no_outputs(tf_env: dict[str, str]) -> None:
    assert_one_line_error(run_util(["outputs", "empty"], tf_env), "'empty' has no outputs", "terraform apply")


def test_missing_terraform_is_one_line(tf_env: dict[str, str], tmp_path: Path) -> None:
    result = run_util(["outputs", "dev"], {**tf_env, "PATH": str(tmp_path)})
    assert_one_line_error(result, "`terraform` is not on PATH", code=1)


def test_a_missing_terraform_directory_is_one_line(util_env: dict[str, str], tmp_path: Path) -> None:
    result = run_util(["outputs", "dev"], {**util_env, "WSPUSH_DEPLOYMENT_DIR": str(tmp_path / "nowhere")})
    assert_one_line_error(result, "no Terraform directory", "WSPUSH_DEPLOYMENT_DIR")


def test_local_stack_not_running_is_one_line(util: UtilRunner) -> None:
    assert_one_line_error(util("outputs"), "the local stack is not running", "util local up", code=1)


def test_a_corrupt_state_file_is_one_line(util: UtilRunner, util_env: dict[str, str]) -> None:
    state = Path(util_env["WSPUSH_LOCAL_STATE"])
    state.parent.mkdir(parents=True)
    state.write_text("{truncated")
    assert_one_line_error(util("outputs"), "not valid JSON", str(state))


def test_a_state_file_without_outputs_is_one_line(util: UtilRunner, write_state: StateWriter) -> None:
    write_state({})
    assert_one_line_error(util("outputs"), "'local' has no outputs", "util local up")


def test_an_invalid_environment_name_is_refused(util: UtilRunner) -> None:
    assert_one_line_error(util("outputs", "--env", "../etc"), "invalid environment name", code=2)


def test_debug_shows_the_traceback_before_the_line(util: UtilRunner) -> None:
    result = util("--debug", "outputs")
    assert result.code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "LocalStackNotRunning" in result.stderr
    assert result.stderr_lines[-1].startswith("error: the local stack is not running")


def test_debug_can_come_from_the_environment(util_env: dict[str, str]) -> None:
    result = run_util(["outputs"], {**util_env, "WSPUSH_DEBUG": "1"})
    assert "Traceback" in result.stderr
