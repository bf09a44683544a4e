"""The browser client's page as the local stack serves it: a local addition at `web_url` (API Gateway serves
no pages), with the headers CloudFront adds on AWS, beside an untouched WebSocket endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from util.browser.page import CACHE_CONTROL, SECURITY_HEADERS, page_files
from util.local.stack import StackThread

from .conftest import running_stack, stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def stack() -> Iterator[StackThread]:
    with running_stack(stack_settings()) as thread:
        yield thread


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_web_url_is_the_stacks_origin(stack: StackThread) -> None:
    outputs = stack.outputs

    assert outputs["web_url"] == f"{outputs['lambda_endpoint_url']}/"
    assert outputs["websocket_url"] == outputs["web_url"].replace("http://", "ws://") + outputs["stage"]


def test_root_serves_the_page_with_the_security_headers(stack: StackThread) -> None:
    index = next(file for file in page_files() if file.path == "index.html")

    status, headers, body = get(stack.outputs["web_url"])

    assert status == 200
    assert body == index.data
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert {name: headers[name] for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert headers["Cache-Control"] == CACHE_CONTROL


def test_every_file_of_the_page_is_served_with_its_type(stack: StackThread) -> None:
    for file in page_files():
        status, headers, body = get(stack.outputs["web_url"] + file.path)

        assert (status, headers["Content-Type"], body) == (200, file.content_type, file.data), file.path
        assert headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]


def test_config_json_names_this_stacks_websocket_url_and_no_secret(stack: StackThread) -> None:
    status, headers, body = get(stack.outputs["web_url"] + "config.json")

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"websocket_url": stack.outputs["websocket_url"]}


@pytest.mark.parametrize("path", ["nope.js", "static/app.js", "..%2Fpage.py", "%2e%2e/page.py", "index.html/x"])
def test_nothing_else_is_served(stack: StackThread, path: str) -> None:
    status, _, _ = get(stack.outputs["web_url"] + path)

    assert status == 404


def test_the_stage_path_stays_the_websocket_endpoint(stack: StackThread) -> None:
    status, _, body = get(stack.outputs["websocket_url"].replace("ws://", "http://"))

    assert status == 426
    assert json.loads(body) == {"message": "Upgrade Required"}
