"""The committed placeholder package: in step with its source, and answering 503 like it says."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from .placeholder import PLACEHOLDER_ZIP, placeholder_entries

pytestmark = pytest.mark.stack

HANDLER_TIMEOUT_S = 30


def run_placeholder(package: Path, event: dict[str, Any]) -> dict[str, Any]:
    """Call `lambda_src.app.handler` from the zip in a fresh, isolated interpreter.

    Isolated (-I) so that the repository's own `lambda_src` package cannot be imported instead.
    """
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); "
        "from lambda_src.app import handler; "
        "print(json.dumps(handler(json.loads(sys.argv[2]), None)))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", script, str(package), json.dumps(event)],
        capture_output=True,
        text=True,
        timeout=HANDLER_TIMEOUT_S,
        check=True,
    )
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_committed_zip_holds_exactly_the_placeholder_source() -> None:
    with zipfile.ZipFile(PLACEHOLDER_ZIP) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}

    assert members == placeholder_entries(), "rebuild it: python -m tests.terraform.placeholder"


def test_placeholder_rejects_a_websocket_connect_with_503() -> None:
    event = {"requestContext": {"eventType": "CONNECT", "routeKey": "$connect", "connectionId": "abc="}}

    answer = run_placeholder(PLACEHOLDER_ZIP, event)

    assert answer["statusCode"] == 503
    assert json.loads(answer["body"]) == {
        "type": "error",
        "code": "not_deployed",
        "error": "not deployed yet: run `util lambda-deploy ENV`",
    }


def test_placeholder_answers_an_sns_push_without_failing() -> None:
    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m-1", "Message": "{}"}}]}

    answer = run_placeholder(PLACEHOLDER_ZIP, event)

    assert answer["statusCode"] == 503
