"""The moto parts the local stack builds its server from (util/local/aws/moto_adapter.py), held to the tested moto.

Each test names the part it holds: when a moto release moves or changes one, the failure says which, before a
stack fails to start or serves wrong answers."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler
from werkzeug.test import Client

from util.local.aws import moto_adapter

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pyproject_pins_moto_to_the_tested_range() -> None:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    (pin,) = [entry for entry in dependencies if entry.startswith("moto")]
    low, high = (".".join(map(str, bound)) for bound in moto_adapter.TESTED_VERSIONS)

    assert re.sub(r"\s", "", pin) == f"moto[server]>={low},<{high}"


def test_the_installed_moto_is_in_the_tested_range() -> None:
    moto_adapter.check_version()


def test_a_moto_outside_the_tested_range_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_adapter, "installed_version", lambda: (5, 3, 1))

    with pytest.raises(moto_adapter.UnsupportedMoto, match=r"moto 5\.3\.1 is not a version .* pip install -e \."):
        moto_adapter.check_version()


def test_the_request_handler_is_werkzeugs_with_moto_s_header_names() -> None:
    handler = moto_adapter.request_handler()

    assert issubclass(handler, WSGIRequestHandler)
    assert "make_environ" in vars(handler)  # moto's own: keeps the underscores of S3 metadata header names


def test_the_backend_app_answers_an_s3_request() -> None:
    response = Client(moto_adapter.backend_app()).get("/", headers={"Host": "s3.amazonaws.com"})

    assert response.status_code == 200
    assert b"ListAllMyBucketsResult" in response.data


def test_the_wrapped_timestamp_parser_is_the_one_the_serializer_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import serialize

    monkeypatch.setattr(serialize, "parse_to_aware_datetime", serialize.parse_to_aware_datetime)  # type: ignore[attr-defined]
    seen: list[Any] = []

    def wrap(original: moto_adapter.TimestampParser) -> moto_adapter.TimestampParser:
        def parse(value: Any) -> datetime:
            seen.append(value)
            return original(value)

        return parse

    moto_adapter.wrap_timestamp_parser(wrap)
    text = serialize.TimestampSerializer("iso8601")._convert_timestamp_to_str("2026-12-02T07:45:01.000Z", "iso8601")

    assert seen == ["2026-12-02T07:45:01.000Z"]
    assert text == "2026-12-02T07:45:01Z"  # iso8601 drops zero milliseconds
