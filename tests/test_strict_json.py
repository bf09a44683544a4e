"""The tests' strict JSON loader refuses what a lenient parser would let a test miss."""

from __future__ import annotations

import json

import pytest

from tests.strict_json import NotStrictJson, frame_or_text, loads

NOT_STRICT = [
    ("NaN", '{"m":NaN}'),
    ("Infinity", "[Infinity]"),
    ("-Infinity", "-Infinity"),
    ("1e999", '{"m":1e999}'),
    ("-1e400", "[-1e400]"),
    ("lone high surrogate", '"\\ud800"'),
    ("lone low surrogate in a key", '{"\\udc00":1}'),
    ("reversed pair", '"\\ude00\\ud83d"'),
    ("duplicate key", '{"a":1,"a":2}'),
]


@pytest.mark.parametrize("text", [t for _, t in NOT_STRICT], ids=[case for case, _ in NOT_STRICT])
def test_loads_refuses_what_json_loads_accepts(text: str) -> None:
    json.loads(text)  # the lenient parser takes every one of them

    with pytest.raises(NotStrictJson):
        loads(text)
    with pytest.raises(NotStrictJson):
        frame_or_text(text.encode("utf-8"))


def test_loads_refuses_bytes_that_are_not_utf8_even_when_json_loads_guesses_an_encoding() -> None:
    utf16 = '{"a":1}'.encode("utf-16")
    assert json.loads(utf16) == {"a": 1}

    with pytest.raises(NotStrictJson):
        loads(utf16)


def test_loads_takes_strict_json() -> None:
    text = '{"a":[1,-2.5,1e308,"\\ud83d\\ude00","é",null,true],"b":{"c":"\\u2028"}}'
    assert loads(text) == loads(text.encode("utf-8")) == json.loads(text)


def test_frame_or_text_keeps_text_that_is_not_json_at_all() -> None:
    assert frame_or_text(b"plain text, not JSON") == "plain text, not JSON"
    assert frame_or_text("{broken") == "{broken"
