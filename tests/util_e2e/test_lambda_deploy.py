"""`util lambda-deploy local` swaps the running stack's code: clients see it at once, the stack keeps running."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.stack_harness import LocalUp
from tests.util.conftest import Result, assert_one_line_error
from util.build import build_package, default_source
from util.environments import LOCAL_ENV, Outputs
from util.lambda_deploy import deploy as deploy_package
from util.local.aws.credentials import STATE_KEY

from .conftest import ClientStarter, UtilRunner
from .connect_client import CLIENT_TIMEOUT_S

pytestmark = pytest.mark.timeout(120)

CODE_MARK = "e2e-deploy"
WHOAMI_CHANGE = f'''

# Appended by tests/util_e2e: a visible change of behaviour, `whoami` replies carry a mark.
import json as _e2e_json

_e2e_original_whoami_frame = whoami_frame


def whoami_frame(*args, **kwargs):
    frame = _e2e_json.loads(_e2e_original_whoami_frame(*args, **kwargs))
    frame["codeVersion"] = "{CODE_MARK}"
    return _e2e_json.dumps(frame).encode()
'''
"""Redefines `protocol.frames.whoami_frame` before anything imports it, whatever the original's body is."""
NOTHING_TO_DEPLOY = "already runs this code: nothing to deploy"


@pytest.fixture
def changed_source(tmp_path: Path) -> Path:
    """A copy of the installed `lambda_src` whose `whoami` reply has one more field."""
    source = tmp_path / "changed" / "lambda_src"
    shutil.copytree(default_source(), source, ignore=shutil.ignore_patterns("__pycache__"))
    protocol = source / "protocol" / "frames.py"
    assert "def whoami_frame(" in protocol.read_text(encoding="utf-8"), "the change below needs whoami_frame"
    with protocol.open("a", encoding="utf-8") as file:
        file.write(WHOAMI_CHANGE)
    return source


@pytest.fixture(autouse=True)
def _original_code_back(local_up: LocalUp) -> Iterator[None]:
    """Whatever a test deployed, the stack runs the original code again for every test after it.

    Cleanup, not the subject: done in-process (no-op when the original already runs), sparing a `util` start.
    """
    yield
    outputs = {name: value for name, value in local_up.outputs.items() if name != STATE_KEY}
    deploy_package(
        Outputs(LOCAL_ENV, outputs, credentials=local_up.credentials), build_package(default_source()), force=False
    )


def code_sha256_of(source: Path) -> str:
    """Lambda's CodeSha256 for `source`'s package: the base64 SHA-256 of its zip's bytes."""
    return base64.b64encode(hashlib.sha256(build_package(source).data).digest()).decode("ascii")


def deploy(util: UtilRunner, *args: str) -> tuple[str, Result]:
    """`util lambda-deploy local ARGS...`: the CodeSha256 it printed and the result.

    It prints the digest twice, as Lambda's base64 and as the hex `lambda-build` prints: the same bytes.
    """
    result = util("lambda-deploy", "local", *args)
    assert result.code == 0, result
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("CodeSha256: ") and lines[1].startswith("sha256: "), result.stdout
    code_sha256 = lines[0].removeprefix("CodeSha256: ")
    assert base64.b64decode(code_sha256).hex() == lines[1].removeprefix("sha256: ")
    assert "compiled " in result.stderr and " Python files with the Python 3." in result.stderr
    return code_sha256, result


def whoami(connect: ClientStarter, name: str) -> dict[str, Any]:
    """What a fresh client is told on `/whoami`."""
    client = connect("--name", name, "--send", "/whoami", "--listen", "1", "--timeout", str(CLIENT_TIMEOUT_S))
    finished = client.finish()
    assert finished.code == 0, finished
    [frame] = finished.json_frames()
    assert isinstance(frame, dict), frame
    return frame


def last_modified(local_up: LocalUp) -> str:
    """The function's LastModified, from the stack's Lambda API (the one `util lambda-deploy` talks to)."""
    client: Any = boto3.client(
        "lambda",
        endpoint_url=local_up.outputs["lambda_endpoint_url"],
        region_name=local_up.outputs["region"],
        **local_up.credentials.client_kwargs(),
    )
    return str(client.get_function_configuration(FunctionName=local_up.outputs["lambda_function_name"])["LastModified"])


def test_lambda_deploy_changes_the_running_code_under_a_client_already_connected(
    local_up: LocalUp, util: UtilRunner, connect: ClientStarter, changed_source: Path
) -> None:
    client = connect("--name", "steady", "--listen", "2", "--timeout", str(CLIENT_TIMEOUT_S), typed=True)
    client.wait_connected()
    client.type_line("/whoami")
    before = client.next_json_frame()
    assert before == {"type": "whoami", "connectionId": before.get("connectionId"), "name": "steady"}, before

    code_sha256, result = deploy(util, "--source", str(changed_source))

    assert code_sha256 == code_sha256_of(changed_source)
    assert "deployed wspush-local-handler (local)" in result.stderr
    client.type_line("/whoami")
    assert client.next_json_frame() == {**before, "codeVersion": CODE_MARK}
    assert client.finish().code == 0
    # The same stack, never restarted: same process, same API, same state file.
    assert local_up.process.poll() is None
    assert json.loads(local_up.state_path.read_text(encoding="utf-8")) == local_up.outputs


def test_lambda_deploy_of_the_code_already_running_uploads_nothing(
    local_up: LocalUp, util: UtilRunner, changed_source: Path
) -> None:
    first_sha256, _ = deploy(util, "--source", str(changed_source))
    deployed_at = last_modified(local_up)

    second_sha256, second = deploy(util, "--source", str(changed_source))

    assert second_sha256 == first_sha256
    assert NOTHING_TO_DEPLOY in second.stderr
    assert "uploading" not in second.stderr
    assert last_modified(local_up) == deployed_at


def test_lambda_deploy_of_the_original_source_restores_the_original_behaviour(
    util: UtilRunner, connect: ClientStarter, changed_source: Path
) -> None:
    deploy(util, "--source", str(changed_source))
    assert whoami(connect, "changed")["codeVersion"] == CODE_MARK

    code_sha256, result = deploy(util)

    assert code_sha256 == code_sha256_of(default_source())
    assert NOTHING_TO_DEPLOY not in result.stderr
    restored = whoami(connect, "restored")
    assert set(restored) == {"type", "connectionId", "name"}, restored
    assert (restored["type"], restored["name"]) == ("whoami", "restored")


def test_lambda_deploy_of_code_with_a_syntax_error_uploads_nothing_and_names_the_line(
    local_up: LocalUp, util: UtilRunner, changed_source: Path
) -> None:
    deployed_at = last_modified(local_up)
    lines = (changed_source / "handlers" / "message.py").read_text(encoding="utf-8").count("\n")
    with (changed_source / "handlers" / "message.py").open("a", encoding="utf-8") as file:
        file.write("\ndef broken(:\n")

    result = util("lambda-deploy", "local", "--source", str(changed_source))

    assert_one_line_error(
        result, f"lambda_src/handlers/message.py:{lines + 2}: SyntaxError", "nothing deployed", code=2
    )
    assert "uploading" not in result.stderr
    assert last_modified(local_up) == deployed_at


def test_lambda_deploy_of_code_that_cannot_import_goes_live_and_the_next_deploy_recovers(
    util: UtilRunner, connect: ClientStarter, changed_source: Path
) -> None:
    # It compiles, but fails at import. As on AWS: the upload succeeds, then every invocation fails, so
    # $connect rejects the handshake with 500.
    with (changed_source / "handlers" / "message.py").open("a", encoding="utf-8") as file:
        file.write("\nimport wspush_e2e_module_that_does_not_exist\n")
    deploy(util, "--source", str(changed_source))

    refused = connect("--send", "/whoami", "--listen", "1", "--no-reconnect").finish()
    assert refused.code == 1, refused
    assert refused.frames == []
    assert refused.stderr[-1].startswith("error: ") and "answered the handshake with HTTP 500" in refused.stderr[-1]

    deploy(util)

    assert whoami(connect, "recovered")["name"] == "recovered"
