"""`util lambda-deploy`: the same boto3 path for AWS and the local stack, here against moto's Lambda API."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
from pathlib import Path

from util.build import build_package, default_source

from .conftest import StateWriter, UtilRunner, assert_one_line_error, aws_client

CODE_SHA_LINE = re.compile(r"^CodeSha256: (\S+)$", re.MULTILINE)


def modified_source(tmp_path: Path, marker: str) -> Path:
    """A copy of lambda_src that differs from every other copy: what a developer deploys after an edit."""
    copy = tmp_path / "lambda_src"
    shutil.copytree(default_source(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "deploy_marker.py").write_text(f"MARKER = {marker!r}\n")
    return copy


def function_sha(stack: dict[str, str]) -> str:
    client = aws_client(stack["aws_endpoint_url"], "lambda")
    return str(client.get_function(FunctionName=stack["lambda_function_name"])["Configuration"]["CodeSha256"])


def printed_sha(stdout: str) -> str:
    match = CODE_SHA_LINE.search(stdout)
    assert match, stdout
    return match.group(1)


def test_lambda_deploy_changes_code_sha256_then_is_a_no_op(
    util: UtilRunner, local_stack: dict[str, str], tmp_path: Path
) -> None:
    source = modified_source(tmp_path, "first")
    expected = base64.b64encode(hashlib.sha256(build_package(source).data).digest()).decode()
    before = function_sha(local_stack)

    deployed = util("lambda-deploy", "local", "--source", str(source))

    assert deployed.code == 0, deployed
    assert before != expected
    assert function_sha(local_stack) == expected
    assert printed_sha(deployed.stdout) == expected
    assert "deployed" in deployed.stderr

    again = util("lambda-deploy", "local", "--source", str(source))

    assert again.code == 0, again
    assert printed_sha(again.stdout) == expected
    assert "nothing to deploy" in again.stderr
    assert "uploading" not in again.stderr


def test_lambda_deploy_force_uploads_unchanged_code(
    util: UtilRunner, local_stack: dict[str, str], tmp_path: Path
) -> None:
    source = modified_source(tmp_path, "forced")
    assert util("lambda-deploy", "--env", "local", "--source", str(source)).code == 0
    client = aws_client(local_stack["aws_endpoint_url"], "lambda")
    modified_before = client.get_function(FunctionName=local_stack["lambda_function_name"])["Configuration"][
        "LastModified"
    ]

    forced = util("lambda-deploy", "--env", "local", "--source", str(source), "--force")

    assert forced.code == 0, forced
    assert "uploading" in forced.stderr
    configuration = client.get_function(FunctionName=local_stack["lambda_function_name"])["Configuration"]
    assert configuration["CodeSha256"] == printed_sha(forced.stdout)
    assert configuration["LastModified"] >= modified_before


def test_lambda_deploy_takes_the_environment_from_wspush_env(
    util_env: dict[str, str], local_stack: dict[str, str], tmp_path: Path
) -> None:
    from .conftest import run_in_process

    source = modified_source(tmp_path, "from-env-var")
    result = run_in_process(["lambda-deploy", "--source", str(source)], {**util_env, "WSPUSH_ENV": "local"})
    assert result.code == 0, result
    assert function_sha(local_stack) == printed_sha(result.stdout)


def test_lambda_deploy_refuses_two_different_environments(util: UtilRunner, local_stack: dict[str, str]) -> None:
    result = util("lambda-deploy", "dev", "--env", "local")
    assert_one_line_error(result, "two environments", code=2)


def test_lambda_deploy_reports_a_missing_function_in_one_line(
    util: UtilRunner, stack: dict[str, str], write_state: StateWriter, tmp_path: Path
) -> None:
    write_state({**stack, "lambda_function_name": "wspush-nowhere-handler"})
    result = util("lambda-deploy", "local", "--source", str(modified_source(tmp_path, "x")))
    assert_one_line_error(result, "GetFunction", "ResourceNotFoundException", code=1, after_progress=True)
