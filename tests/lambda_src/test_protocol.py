"""The frame encoder and the field rules on their own: strict JSON out, non-finite numbers and lone surrogates in
refused, dot-only room names refused."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from lambda_src.errors import ErrorCode, ProtocolError
from lambda_src.protocol.frames import (
    encode,
    error_frame,
    message_frame,
    parse_body,
    require_connection_id,
    room_frame,
    validate_room,
    whoami_frame,
)
from tests.strict_json import loads

NON_FINITE = [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize("number", NON_FINITE, ids=["nan", "inf", "-inf"])
def test_encode_never_writes_a_non_finite_number(number: float) -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode({"type": "message", "message": [1, {"x": number}]})


def test_encode_never_writes_a_lone_surrogate() -> None:
    with pytest.raises(UnicodeEncodeError):
        encode({"type": "message", "message": "a\ud800b"})


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (math.nan, ErrorCode.INVALID_JSON),
        ({"deep": [math.inf]}, ErrorCode.INVALID_JSON),
        ("\udc00", ErrorCode.INVALID_FIELD),
    ],
    ids=["nan", "inf", "surrogate"],
)
def test_a_message_that_cannot_be_strict_json_is_refused_never_framed(message: object, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as raised:
        message_frame(kind="message", message=message, sender_id="a", sender_name="n", room=None, sent_at_ms=1)

    assert raised.value.code is code


def test_every_frame_builder_writes_strict_json() -> None:
    frames = [
        error_frame(ErrorCode.INVALID_JSON, "x"),
        whoami_frame("id", "Zoë 👩\u200d💻"),
        room_frame("joined", "lobby"),
        message_frame(
            kind="message",
            message={"f": 1.5, "big": 1e308, "😀": ["é"]},
            sender_id="a",
            sender_name="n",
            room="r",
            sent_at_ms=1,
        ),
    ]
    assert [loads(frame)["type"] for frame in frames] == ["error", "whoami", "joined", "message"]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
    ],
)
def test_parse_body_names_the_non_finite_number(text: str, shown: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_body('{"action":"broadcast","message":' + text + "}")

    assert raised.value.code is ErrorCode.INVALID_JSON
    assert shown in raised.value.message


def test_parse_body_keeps_large_finite_numbers_and_surrogate_pairs() -> None:
    body = parse_body('{"action":"broadcast","message":[1e308,-2.5e-300,"\\ud83d\\ude00","\\\\ud800"]}')

    # A valid pair is one character; an escaped backslash before "ud800" is text, not a surrogate.
    assert body["message"] == [1e308, -2.5e-300, "😀", "\\ud800"]


def test_a_huge_number_in_the_message_is_refused_when_framed_with_invalid_json() -> None:
    message = parse_body('{"action":"broadcast","message":[1,-1e999]}')["message"]
    with pytest.raises(ProtocolError) as raised:
        message_frame(kind="message", message=message, sender_id="a", sender_name="n", room=None, sent_at_ms=1)

    assert raised.value.code is ErrorCode.INVALID_JSON
    assert "out of range of a double" in raised.value.message


@pytest.mark.parametrize(
    ("check", "field"),
    [(lambda body: validate_room(body["room"]), "room"), (lambda body: require_connection_id(body, "to"), "to")],
    ids=["room", "to"],
)
def test_a_lone_surrogate_in_a_field_is_refused_naming_the_field(check: Any, field: str) -> None:
    body = parse_body('{"action":"send","message":"ok","room":"lob\\ud800by","to":"\\udfffid"}')

    with pytest.raises(ProtocolError) as raised:
        check(body)

    assert (raised.value.code, raised.value.message) == (
        ErrorCode.INVALID_FIELD,
        f"field '{field}' holds a lone surrogate (not Unicode text)",
    )


@pytest.mark.parametrize("room", [".", "..", "...", "." * 64])
def test_dot_only_room_names_are_refused(room: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        validate_room(room)

    assert raised.value.code is ErrorCode.INVALID_ROOM


@pytest.mark.parametrize("room", ["a.b", ".hidden", "v1.2", "..x", "x.."])
def test_room_names_with_dots_and_other_characters_are_kept(room: str) -> None:
    assert validate_room(room) == room


def test_docs_protocol_lists_exactly_the_error_codes_of_the_protocol() -> None:
    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = text[text.index("| code | when |") :].split("\n\n")[0]

    assert sorted(re.findall(r"^\| `([a-z_]+)` \|", table, re.M)) == sorted(code.value for code in ErrorCode)
