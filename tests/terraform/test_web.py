"""deployment/web.tf agrees with the page: CloudFront serves the Content-Security-Policy the local stack
serves (util/browser/page.py), so the page behaves the same on AWS as in the Chromium tests."""

from __future__ import annotations

import json

import pytest

from util.browser.page import SECURITY_HEADERS

from .workdir import Workdir

pytestmark = pytest.mark.terraform


def console(workdir: Workdir, expression: str) -> object:
    result = workdir.run("console", timeout_s=60, check=True, input_text=f"jsonencode({expression})\n")
    return json.loads(json.loads(result.stdout.strip()))


def test_cloudfront_serves_the_pages_content_security_policy(offline_workdir: Workdir) -> None:
    assert console(offline_workdir, "local.web_content_security_policy") == SECURITY_HEADERS["Content-Security-Policy"]
