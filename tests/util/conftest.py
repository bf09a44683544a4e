"""Fixtures of the `util` tests: a stack's resources in moto, a local state file, and `util` itself.

`util` runs in-process through typer's `CliRunner` (the same error boundary as the console script);
`run_util` runs the console script as a subprocess, for the tests about the process itself (exit code,
stderr, signals, completion). Every resource name carries a random suffix: the moto server is shared by
the whole test session.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import boto3
import pytest

from util.local.aws.credentials import STATE_KEY, LocalCredentials

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
UTIL_TIMEOUT_S = 30
IN_PROCESS_TIMEOUT_S = 60
"""pytest-timeout's bound for each test here: an in-process `util` that hangs cannot be killed otherwise."""
UTIL = Path(sys.executable).parent / "util"
# Variables of the developer's shell that would change what `util` does under test.
_SCRUBBED_VARS = ("WSPUSH_ENV", "WSPUSH_DEBUG", "WSPUSH_CONNECT_TOKEN", "AWS_ENDPOINT_URL", "TF_WORKSPACE")


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def aws_client(endpoint: str, service: str) -> Any:
    """A plain boto3 client of moto (typed Any: the tests use many services through one helper)."""
    session: Any = boto3.session.Session()
    return session.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def placeholder_zip() -> bytes:
    """What Terraform deploys before `util lambda-deploy` ships the real code."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_src/__init__.py", "")
        archive.writestr("lambda_src/app.py", "def handler(event, context):\n    return {'statusCode': 200}\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> dict[str, str]:
    """The stack's resources in moto, named as Terraform names them; returns the outputs of the local stack."""
    name = f"wspush-t{uuid.uuid4().hex[:8]}"
    iam = aws_client(moto_endpoint, "iam")
    role = iam.create_role(
        RoleName=f"{name}-handler",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]
    function = aws_client(moto_endpoint, "lambda").create_function(
        FunctionName=f"{name}-handler",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="lambda_src.app.handler",
        Code={"ZipFile": placeholder_zip()},
    )
    topic_arn = aws_client(moto_endpoint, "sns").create_topic(Name=f"{name}-push")["TopicArn"]
    bucket = f"{name}-connections-{ACCOUNT_ID}"
    aws_client(moto_endpoint, "s3").create_bucket(Bucket=bucket)
    logs = aws_client(moto_endpoint, "logs")
    lambda_log_group = f"/aws/lambda/{name}-handler"
    api_log_group = f"/aws/apigateway/{name}-api"
    logs.create_log_group(logGroupName=lambda_log_group)
    logs.create_log_group(logGroupName=api_log_group)
    return {
        "websocket_url": "ws://127.0.0.1:3001/live",
        "connections_url": "http://127.0.0.1:3001/live",
        "api_id": "local",
        "stage": "live",
        "region": REGION,
        "lambda_function_name": function["FunctionName"],
        "sns_topic_arn": topic_arn,
        "connections_bucket": bucket,
        "lambda_log_group": lambda_log_group,
        "api_log_group": api_log_group,
        "auth_mode": "none",
        "aws_endpoint_url": moto_endpoint,
        "lambda_endpoint_url": moto_endpoint,
    }


UtilRunner = Callable[..., Result]
StateWriter = Callable[[Mapping[str, Any]], Path]


def run_util(
    args: list[str],
    env: Mapping[str, str],
    stdin: str | None = None,
    timeout_s: float = UTIL_TIMEOUT_S,
    cwd: Path | None = None,
) -> Result:
    completed = subprocess.run(
        [str(UTIL), *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout_s,
        cwd=cwd,
        check=False,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def run_in_process(
    args: list[str], env: Mapping[str, str], stdin: str | None = None, cwd: Path | None = None
) -> Result:
    """`util ARGS` in this interpreter with exactly `env` as its environment, as `run_util` runs it."""
    from typer.testing import CliRunner

    from util import console
    from util.cli import app

    # rich fixes a console's width when it is made (at import, from the terminal or COLUMNS then): a worker
    # process without a terminal would lay every table out for 80 columns whatever `env` says.
    columns = env.get("COLUMNS", "")
    if columns.isdigit():
        console.out.width = console.err.width = int(columns)
    overrides: dict[str, str | None] = {key: None for key in os.environ if key not in env}
    overrides.update({key: value for key, value in env.items() if os.environ.get(key) != value})
    with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
        result = CliRunner().invoke(app, args, input=stdin, env=overrides)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # The boundary turns every exception into an exit: one that escaped it is a bug to show whole.
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Bounds every test here; the tiers follow from the fixtures (moto, the console script, terraform)."""
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(IN_PROCESS_TIMEOUT_S))
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & {"moto_endpoint", "util_process"}:
            item.add_marker(pytest.mark.stack)
        if "tf_env" in fixtures:
            item.add_marker(pytest.mark.terraform)


@pytest.fixture
def util_env(tmp_path: Path) -> dict[str, str]:
    """The environment `util` runs in: this test's state file path, no inherited wspush settings."""
    env = {key: value for key, value in os.environ.items() if key not in _SCRUBBED_VARS}
    env["WSPUSH_LOCAL_STATE"] = str(tmp_path / "state" / "local-stack.json")
    env["COLUMNS"] = "200"  # rich lays tables out for 80 columns when not on a terminal
    return env


@pytest.fixture
def write_state(util_env: dict[str, str]) -> StateWriter:
    """Write the local stack's state file, as `util local up` does when the stack is ready: the outputs and
    the stack's own credentials (moto, which serves these tests, accepts any)."""

    def write(outputs: Mapping[str, Any]) -> Path:
        path = Path(util_env["WSPUSH_LOCAL_STATE"])
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {**outputs, STATE_KEY: LocalCredentials.generate().to_state()} if outputs else {}
        path.write_text(json.dumps(state), encoding="utf-8")
        return path

    return write


@pytest.fixture
def util(util_env: dict[str, str]) -> UtilRunner:
    """Run `util ARGS...` in-process in `util_env` (`timeout_s` is kept for callers: the test's bound rules)."""

    def runner(
        *args: str, stdin: str | None = None, timeout_s: float = UTIL_TIMEOUT_S, cwd: Path | None = None
    ) -> Result:
        return run_in_process(list(args), util_env, stdin=stdin, cwd=cwd)

    return runner


@pytest.fixture
def util_process(util_env: dict[str, str]) -> UtilRunner:
    """Run `util ARGS...` as a subprocess (the console script) in `util_env`."""

    def runner(
        *args: str, stdin: str | None = None, timeout_s: float = UTIL_TIMEOUT_S, cwd: Path | None = None
    ) -> Result:
        return run_util(list(args), util_env, stdin=stdin, timeout_s=timeout_s, cwd=cwd)

    return runner


@pytest.fixture
def local_stack(stack: dict[str, str], write_state: StateWriter) -> Iterator[dict[str, str]]:
    """The local stack is 'up': its state file points at the resources in moto."""
    write_state(stack)
    yield stack


def assert_one_line_error(
    result: Result, *fragments: str, code: int | None = None, after_progress: bool = False
) -> None:
    """The contract of every failure: non-zero exit, one line saying what is wrong, no traceback.

    `after_progress`: the command may have printed progress lines (`connected to ...`) before failing.
    """
    assert result.code != 0, result
    if code is not None:
        assert result.code == code, result
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr_lines if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr_lines[-1] == errors[0], result.stderr
    if not after_progress:
        assert len(result.stderr_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


class LineReader:
    """Reads a running process's stdout line by line with a deadline, so a silent process fails the test."""

    def __init__(self, stream: IO[str]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def line(self, timeout_s: float) -> str:
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout_s} s") from None
        assert line is not None, "the process ended its output"
        return line
