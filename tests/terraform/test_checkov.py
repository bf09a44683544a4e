"""checkov on deployment/: no failed check, and every skip is an in-place comment with its reason.

checkov pins an old boto3, so it lives in its own venv (`.venv-checkov` at the repository root, or
the binary named by $CHECKOV_BIN), never in the project's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .paths import DEPLOYMENT_DIR, REPO_ROOT

pytestmark = pytest.mark.terraform

CHECKOV_BIN_ENV = "CHECKOV_BIN"
DEFAULT_CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_TIMEOUT_S = 180.0
SKIP_COMMENT = re.compile(r"#checkov:skip=(?P<check>CKV2?_AWS_\d+):(?P<reason>.*)$", re.MULTILINE)
MIN_REASON_CHARS = 40
"""A reason says why the check does not fit this service, not just that it is skipped."""


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    binary = Path(os.environ.get(CHECKOV_BIN_ENV) or DEFAULT_CHECKOV)
    if not binary.is_file():
        pytest.fail(
            f"no checkov at {binary}: create its venv with "
            "`python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov` (or set CHECKOV_BIN)",
            pytrace=False,
        )
    # BC_SKIP_MAPPING and --skip-download: offline, no call to Prisma Cloud for guidelines or mappings.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(
        [str(binary), "-d", str(DEPLOYMENT_DIR), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=CHECKOV_TIMEOUT_S,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no JSON report (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return report


def test_checkov_finds_no_failed_check(checkov_report: dict[str, Any]) -> None:
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for check in checkov_report["results"]["failed_checks"]
    ]

    assert failed == []
    assert checkov_report["summary"]["parsing_errors"] == 0
    assert checkov_report["summary"]["passed"] > 50, "checkov must really have scanned the stack"


def test_every_skip_is_an_in_place_comment_with_a_reason(checkov_report: dict[str, Any]) -> None:
    comments = [match for path in DEPLOYMENT_DIR.glob("*.tf") for match in SKIP_COMMENT.finditer(path.read_text())]
    skipped = checkov_report["results"]["skipped_checks"]

    assert [m.group("check") for m in comments if len(m.group("reason").strip()) < MIN_REASON_CHARS] == []
    # Nothing is skipped but through these comments (no --skip-check, no config file).
    assert {check["check_id"] for check in skipped} == {m.group("check") for m in comments}
    assert all(check["check_result"].get("suppress_comment") for check in skipped)
